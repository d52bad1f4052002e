import { NotificationId } from '../src/flex-hooks/notifications/ChatTransferNotifications';
import { ChatLeaver } from '../src/utils/ChatLeaver';
import { PendingTransfers } from '../src/utils/PendingTransfers';
import { ServiceClient } from '../src/utils/ServiceClient';
import { chatTask, fakeFetch, FakeAnswer, noSleep, QUEUE } from './fakes';

function setUp(answer: FakeAnswer | 'network-error') {
  const fake = fakeFetch(() => answer);
  const pending = new PendingTransfers();
  const notifications: Array<[NotificationId, Record<string, string> | undefined]> = [];
  const nativeWrapups: string[] = [];
  const leaver = new ChatLeaver({
    client: new ServiceClient({ baseUrl: 'https://ct.example.com', token: () => 't', fetch: fake.fetch, sleep: noSleep }),
    pending,
    notify: (id, context) => notifications.push([id, context]),
    nativeWrapup: async (task) => nativeWrapups.push(task.taskSid),
  });
  return { leaver, pending, notifications, nativeWrapups, requests: fake.requests };
}

const task = chatTask();

describe('Leave chat', () => {
  it('asks the service to take the agent out of the chat', async () => {
    const { leaver, requests, notifications } = setUp({ status: 202, body: { taskSid: task.taskSid, conversationSid: 'CH1', status: 'leaving' } });
    await expect(leaver.leave(task)).resolves.toBe('leaving');
    expect(requests.map((r) => `${r.method} ${r.url}`)).toEqual([`POST https://ct.example.com/tasks/${task.taskSid}/leave`]);
    expect(notifications).toEqual([]);
  });

  it('is not possible while the agent’s transfer of the chat is being set up', async () => {
    const { leaver, pending, requests, notifications } = setUp({ status: 202, body: {} });
    pending.start({ taskSid: task.taskSid, targetSid: QUEUE, mode: 'COLD' });
    await expect(leaver.leave(task)).resolves.toBe('blocked');
    expect(requests).toEqual([]);
    expect(notifications).toEqual([[NotificationId.TransferPendingBlocksWrapup, undefined]]);
  });

  it('clicked twice is sent once', async () => {
    const { leaver, requests } = setUp({ status: 202, body: {} });
    const [first, second] = await Promise.all([leaver.leave(task), leaver.leave(task)]);
    expect([first, second]).toEqual(['leaving', 'already-leaving']);
    expect(requests).toHaveLength(1);
  });

  it('of a chat the service never tracked ends it as Flex would', async () => {
    const { leaver, nativeWrapups } = setUp({ status: 404, body: { error: 'unknown task', field: 'taskSid' } });
    await expect(leaver.leave(task)).resolves.toBe('native');
    expect(nativeWrapups).toEqual([task.taskSid]);
  });

  it('refused says why and ends nothing', async () => {
    const { leaver, notifications, nativeWrapups } = setUp({ status: 409, body: { error: 'the task is not in flight', status: 'wrapping' } });
    await expect(leaver.leave(task)).resolves.toBe('failed');
    expect(notifications).toEqual([[NotificationId.LeaveFailed, { reason: 'the task is not in flight' }]]);
    expect(nativeWrapups).toEqual([]);
  });

  it('when the service cannot be reached says so and ends nothing', async () => {
    const { leaver, notifications, nativeWrapups } = setUp('network-error');
    await expect(leaver.leave(task)).resolves.toBe('failed');
    expect(notifications).toEqual([[NotificationId.ServiceUnreachable, undefined]]);
    expect(nativeWrapups).toEqual([]);
  });

  it('a 404 for a missing route (not the task) does not end the chat natively', async () => {
    const { leaver, nativeWrapups } = setUp({ status: 404 });
    await expect(leaver.leave(task)).resolves.toBe('failed');
    expect(nativeWrapups).toEqual([]);
  });
});
