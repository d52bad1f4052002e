/**
 * The plugin as Flex loads it: `registerChatTransfer` against the real @twilio/flex-ui (Actions,
 * Notifications, TaskContext) with a fake manager and a fake service.
 */
import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import * as Flex from '@twilio/flex-ui';
import React from 'react';

import { NotificationId } from '../src/flex-hooks/notifications/ChatTransferNotifications';
import { registerChatTransfer } from '../src/registerChatTransfer';
import type { PluginFlex, PluginTask } from '../src/utils/flexTypes';
import { chatTask, fakeManager, FakeManagerOptions, noSleep, OTHER_WORKER, sid, voiceTask, WORKER } from './fakes';
import { chatView, fakeService, SERVICE_URL, TRANSFER_ID } from './fakeService';
import { realFlex } from './realFlex';

type Call = { kind: 'add' | 'replace' | 'remove'; element?: React.ReactElement; key?: string; options?: { if?: (props: any) => boolean; sortOrder?: number } };

/** Records what the plugin asks of a component's Content (the real store renders only inside a running Flex). */
function recordingContent() {
  const calls: Call[] = [];
  const Content = {
    add: (element: React.ReactElement, options?: Call['options']) => (calls.push({ kind: 'add', element, options }), () => undefined),
    replace: (element: React.ReactElement, options?: Call['options']) => (calls.push({ kind: 'replace', element, options }), () => undefined),
    remove: (key: string, options?: Call['options']) => (calls.push({ kind: 'remove', key, options }), () => undefined),
  };
  return { calls, Content };
}

const cbm = chatTask();
const legacy = chatTask({ cbm: false, sid: 'WR-legacy', taskSid: sid('WT', 7) });
const voice = voiceTask();
const real = realFlex([cbm, legacy, voice]);
Flex.Actions.replaceAction('TransferTask', async () => undefined);
afterEach(() => real.reset());

function setUp(managerOptions: FakeManagerOptions = {}) {
  const header = recordingContent();
  const tabs = recordingContent();
  const messages = recordingContent();
  const shown: Array<[string, object | undefined]> = [];
  const flex = {
    ...real.flex,
    Notifications: {
      registeredNotifications: Flex.Notifications.registeredNotifications,
      registerNotification: (notification: Flex.Notification) => Flex.Notifications.registerNotification(notification),
      showNotification: (id: string, context?: object) => (shown.push([id, context]), Flex.Notifications.showNotification(id, context)),
      dismissNotificationById: (id: string) => Flex.Notifications.dismissNotificationById(id),
    },
    TaskCanvasHeader: { Content: header.Content },
    TaskCanvasTabs: { Content: tabs.Content },
    MessageListItem: { Content: messages.Content },
  } as unknown as PluginFlex;
  const manager = fakeManager({ customData: { chat_transfer: { service_url: SERVICE_URL } }, ...managerOptions });
  const service = fakeService();
  const plugin = registerChatTransfer(flex, manager, {}, { fetch: service.fetch, sleep: noSleep, newKey: () => 'click-1' });
  return { plugin, manager, service, shown, header: header.calls, tabs: tabs.calls, messages: messages.calls };
}

/** An element rendered where Flex renders it: inside the selected task's TaskContext. */
function renderInTask(element: React.ReactElement, task: PluginTask) {
  return render(<Flex.TaskContext.Provider value={{ task: task as unknown as Flex.ITask }}>{element}</Flex.TaskContext.Provider>);
}

it('changes nothing in Flex without a service URL', () => {
  const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
  const header = recordingContent();
  const flex = { ...real.flex, TaskCanvasHeader: { Content: header.Content } } as unknown as PluginFlex;
  expect(registerChatTransfer(flex, fakeManager(), {})).toBeNull();
  expect(header.calls).toEqual([]);
  expect(warn).toHaveBeenCalledWith(expect.stringContaining('no service URL'));
});

describe('the task header', () => {
  it('swaps End chat for Leave chat, and adds Transfer, on a chat the agent is in', () => {
    const { header } = setUp();
    expect(header.map((c) => c.kind)).toEqual(['remove', 'add', 'add']);
    expect(header[0].key).toBe('actions');
    for (const call of header) {
      expect(call.options?.if?.({ task: cbm })).toBe(true);
      expect(call.options?.if?.({ task: legacy })).toBe(true);
      expect(call.options?.if?.({ task: { ...cbm, taskStatus: 'wrapping' } })).toBe(false);
      expect(call.options?.if?.({ task: voice })).toBe(false);
    }
  });

  it("leaves Transfer to Flex's native messaging transfers on a Flex Conversations chat, when they win", () => {
    const { header } = setUp({
      transfersConfigEnabled: true,
      customData: { chat_transfer: { service_url: SERVICE_URL, use_native_transfers: true } },
    });
    const transfer = header[2];
    expect(transfer.options?.if?.({ task: cbm })).toBe(false);
    expect(transfer.options?.if?.({ task: legacy })).toBe(true);
  });

  it('labels Leave chat from who is here, and leaves with the token of the moment', async () => {
    const { header, service, manager } = setUp();
    service.setView(chatView({ agents: [{ name: 'Alice', workerSid: WORKER, taskSid: cbm.taskSid }, { name: 'Bob', workerSid: OTHER_WORKER, taskSid: sid('WT', 2) }] }));
    renderInTask(header[1].element!, cbm);
    const button = await screen.findByRole('button', { name: 'Leave chat — 1 other agent is here' });
    manager.user.token = 'token-refreshed';
    fireEvent.click(button);
    await waitFor(() => expect(service.requests.map((r) => r.method)).toContain('POST'));
    const leave = service.requests.find((r) => r.method === 'POST')!;
    expect(leave.url).toBe(`${SERVICE_URL}/tasks/${cbm.taskSid}/leave`);
    expect(leave.body).toEqual({ Token: 'token-refreshed' });
  });
});

it('adds a People tab to chat tasks', async () => {
  const { tabs } = setUp();
  const [tab] = tabs;
  expect(tab.element!.type).toBe(Flex.Tab);
  expect(tab.element!.props).toMatchObject({ uniqueName: 'ChatTransferPeople', label: 'People' });
  expect(tab.options?.if?.({ task: cbm })).toBe(true);
  expect(tab.options?.if?.({ task: voice })).toBe(false);
  renderInTask(tab.element!.props.children, cbm);
  expect(await screen.findByText('Alice')).toBeTruthy();
});

it("shows the service's notices as notices in the message list", () => {
  const { messages } = setUp({ localeTag: 'es-MX' });
  const [replace] = messages;
  expect(replace.kind).toBe('replace');
  const notice = { source: { body: 'Bob joined the chat', attributes: { notification: true, notificationType: 'joined', workerName: 'Bob' } } };
  const line = { source: { body: 'hello', attributes: {} } };
  expect(replace.options?.if?.({ message: notice })).toBe(true);
  expect(replace.options?.if?.({ message: line })).toBe(false);
  const { container } = render(React.cloneElement(replace.element!, { message: notice }));
  expect(container.textContent).toBe('Bob se unió al chat');
});

it('transfers a chat picked in the directory through the service and says how it went', async () => {
  const { service, shown } = setUp();
  await expect(Flex.Actions.invokeAction('TransferTask', { task: cbm, targetSid: OTHER_WORKER, options: { mode: 'WARM' } })).rejects.toThrow(
    'cancelled by before event',
  );
  await waitFor(() => expect(shown.map(([id]) => id)).toEqual([NotificationId.TransferRequested, NotificationId.TransferCreated]));
  expect(Flex.Notifications.isNotificationActive(NotificationId.TransferCreated)).toBe(true);
  expect(Flex.Notifications.isNotificationActive(NotificationId.TransferRequested)).toBe(false); // gave way
  expect(service.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
    `POST ${SERVICE_URL}/transfers`,
    `GET ${SERVICE_URL}/transfers/${TRANSFER_ID}`,
  ]);
  expect(service.requests[0].headers['Idempotency-Key']).toBe('click-1');
});

it("registers Flex notifications that speak the agent's language", () => {
  setUp({ localeTag: 'pt-BR' });
  const notification = Flex.Notifications.showNotification(NotificationId.TransferFailed, { reason: 'ninguém aceitou' });
  expect(notification?.type).toBe(Flex.NotificationType.error);
  const content = notification!.content as React.ReactElement;
  const { container } = render(React.cloneElement(content, { notificationContext: notification!.context }));
  expect(container.textContent).toBe('Não foi possível concluir a transferência: ninguém aceitou');
});
