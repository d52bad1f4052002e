/**
 * The contract across the two languages: every request the plugin sends, for every action an agent
 * takes, validates against the service's own OpenAPI description (webhooks/openapi.json) — method,
 * path and its parameters, headers, content type and body — and so does every answer these tests
 * pretend the service gives.
 */
import { render, screen, waitFor } from '@testing-library/react';
import * as Flex from '@twilio/flex-ui';
import React from 'react';

import { registerChatTransfer } from '../src/registerChatTransfer';
import type { PluginFlex } from '../src/utils/flexTypes';
import { chatTask, fakeManager, noSleep, OTHER_WORKER, QUEUE, RecordedRequest, sid } from './fakes';
import { fakeService, SERVICE_URL, TRANSFER_ID } from './fakeService';
import { answerProblems, operationOf, requestProblems } from './openapi';
import { realFlex, standInFor } from './realFlex';

const task = chatTask();
const real = realFlex([task]);
standInFor('TransferTask');
const nativeWrapups = standInFor('WrapupTask');
const service = fakeService();
let clicks = 0;
const headerContent: React.ReactElement[] = [];
const flex = {
  ...real.flex,
  TaskCanvasHeader: { Content: { add: (element: React.ReactElement) => headerContent.push(element), remove: () => undefined } },
  TaskCanvasTabs: { Content: { add: () => undefined } },
  MessageListItem: { Content: { replace: () => undefined } },
} as unknown as PluginFlex;
const manager = fakeManager({ customData: { chat_transfer: { service_url: SERVICE_URL } } });
const plugin = registerChatTransfer(flex, manager, {}, { fetch: service.fetch, sleep: noSleep, newKey: () => `click-${++clicks}` })!;

const settled = () => waitFor(() => expect(plugin.pending.has(task.taskSid)).toBe(false));

async function transfer(targetSid: string, mode?: string) {
  await Flex.Actions.invokeAction('TransferTask', { task, targetSid, options: mode ? { mode } : undefined }).catch(() => undefined);
  await settled();
}

describe('every request the plugin sends is one the service describes', () => {
  afterAll(() => real.reset());

  it('a transfer followed until created', async () => {
    service.answer('GET /transfers/{id}', { status: 200, body: { transferId: TRANSFER_ID, status: 'pending' } });
    await transfer(OTHER_WORKER, 'WARM');
  });

  it('a cold transfer to a queue sent again after a lost answer, a 503 and a 429', async () => {
    service.answer(
      'POST /transfers',
      'network-error',
      { status: 503, body: { error: 'temporarily unable to queue the transfer; retry' } },
      { status: 429, body: { error: 'too many requests from this client' } },
    );
    await transfer(QUEUE, 'COLD');
  });

  it('a transfer while another is pending (409), which then fails', async () => {
    service.answer('POST /transfers', { status: 409, body: { error: 'a transfer of this task is being set up', transferId: TRANSFER_ID } });
    service.answer('GET /transfers/{id}', {
      status: 200,
      body: { transferId: TRANSFER_ID, status: 'failed', taskSid: task.taskSid, targetSid: QUEUE, mode: 'COLD', transferTaskSid: null, conversationSid: null, strategy: null, reason: 'canceled' },
    });
    await transfer(QUEUE);
  });

  it('a transfer the service refuses', async () => {
    service.answer('POST /transfers', { status: 400, body: { error: 'cannot transfer a chat to yourself', field: 'targetSid' } });
    await transfer(sid('WK', 1));
  });

  it('Leave chat, its refusal, and a chat the service never tracked', async () => {
    service.answer('POST /tasks/{sid}/leave', { status: 202, body: { taskSid: task.taskSid, conversationSid: task.attributes.conversationSid, status: 'leaving' } });
    await expect(Flex.Actions.invokeAction('WrapupTask', { task })).rejects.toThrow();
    const leaves = () => service.requests.filter((r) => r.url.endsWith('/leave'));
    await waitFor(() => expect(leaves()).toHaveLength(1));
    await waitFor(() => expect(plugin.leaver.isLeaving(task.taskSid)).toBe(false));
    service.answer('POST /tasks/{sid}/leave', { status: 409, body: { error: 'the task is not in flight', status: 'wrapping' } });
    await expect(plugin.leaver.leave(task)).resolves.toBe('failed');
    service.answer('POST /tasks/{sid}/leave', { status: 404, body: { error: `unknown task ${task.taskSid}`, field: 'taskSid' } });
    await expect(plugin.leaver.leave(task)).resolves.toBe('native');
    expect(leaves()).toHaveLength(3);
    expect(nativeWrapups).toHaveLength(1);
  });

  it('who is here, for the Leave label, and a chat the service does not know', async () => {
    const Leave = headerContent[0];
    const shown = render(<Flex.TaskContext.Provider value={{ task: task as unknown as Flex.ITask }}>{Leave}</Flex.TaskContext.Provider>);
    await screen.findByRole('button', { name: 'End chat' });
    shown.unmount();
    service.answer('GET /chats/{sid}', { status: 404, body: { error: 'unknown conversation', field: 'conversationSid' } });
    render(<Flex.TaskContext.Provider value={{ task: task as unknown as Flex.ITask }}>{Leave}</Flex.TaskContext.Provider>);
    await waitFor(() => expect(service.requests.filter((r) => r.method === 'GET' && r.url.includes('/chats/'))).toHaveLength(2));
  });

  it('— and all of it, asked and answered, validates against webhooks/openapi.json', () => {
    const problems = service.exchanges.flatMap(({ request, answer }) => [
      ...requestProblems(request, SERVICE_URL),
      ...(answer === 'network-error' ? [] : answerProblems(request, SERVICE_URL, answer.status, answer.body)),
    ]);
    expect(problems).toEqual([]);
    const exercised = new Set(service.requests.map((r) => operationOf(r, SERVICE_URL)));
    expect([...exercised].sort()).toEqual([
      'GET /chats/{conversationSid}',
      'GET /transfers/{transferId}',
      'POST /tasks/{taskSid}/leave',
      'POST /transfers',
    ]);
  });
});

describe('the judge itself', () => {
  const base: RecordedRequest = {
    method: 'POST',
    url: `${SERVICE_URL}/transfers`,
    headers: { 'Content-Type': 'application/json', 'Idempotency-Key': 'k' },
    body: { taskSid: task.taskSid, targetSid: QUEUE, mode: 'WARM', Token: 't' },
  };

  it('passes a good request', () => {
    expect(requestProblems(base, SERVICE_URL)).toEqual([]);
  });

  it.each([
    ['a mode the service does not know', { body: { ...(base.body as object), mode: 'SIDEWAYS' } }, 'body'],
    ['a missing token', { body: { taskSid: task.taskSid, targetSid: QUEUE, mode: 'WARM' } }, 'Token'],
    ['a malformed target', { body: { ...(base.body as object), targetSid: 'bob' } }, 'targetSid'],
    ['an undescribed header', { headers: { ...base.headers, 'X-Secret': '1' } }, 'undescribed header x-secret'],
    ['an undescribed path', { url: `${SERVICE_URL}/transfer` }, 'no path'],
    ['a method the path does not take', { method: 'DELETE', url: `${SERVICE_URL}/transfers/${TRANSFER_ID}`, body: undefined }, 'not described'],
    ['a malformed sid in the path', { url: `${SERVICE_URL}/tasks/WT123/leave`, body: { Token: 't' }, headers: { 'Content-Type': 'application/json' } }, 'path taskSid'],
    ['a body on a GET', { method: 'GET', url: `${SERVICE_URL}/chats/${task.attributes.conversationSid}` }, 'body'],
  ])('catches %s', (_what, change, expected) => {
    const problems = requestProblems({ ...base, ...change } as RecordedRequest, SERVICE_URL);
    expect(problems.join('\n')).toContain(expected);
  });

  it('catches an answer the service would not give', () => {
    expect(answerProblems(base, SERVICE_URL, 200, {})).toEqual(['POST /transfers → 200 is not a documented answer']);
    expect(answerProblems(base, SERVICE_URL, 202, { status: 'pending' }).join()).toContain('transferId');
  });
});
