import { act, fireEvent, render, screen, waitFor } from '@testing-library/react';
import React from 'react';

import { ChatPeoplePanel } from '../src/custom-components/ChatPeoplePanel/ChatPeoplePanel';
import { LeaveChatButton } from '../src/custom-components/LeaveChatButton/LeaveChatButton';
import { NoticeMessage } from '../src/custom-components/NoticeMessage/NoticeMessage';
import { TransferButton } from '../src/custom-components/TransferButton/TransferButton';
import type { ChatLeaver } from '../src/utils/ChatLeaver';
import { ChatViews } from '../src/utils/ChatViews';
import type { PluginFlex } from '../src/utils/flexTypes';
import { PendingTransfers } from '../src/utils/PendingTransfers';
import type { ChatView } from '../src/utils/ServiceClient';
import { ServiceError } from '../src/utils/ServiceClient';
import { stringsFor } from '../src/utils/strings';
import { chatTask, CONVERSATION, OTHER_WORKER, QUEUE, sid, WORKER } from './fakes';

const en = stringsFor('en-US');
const task = chatTask();
const me = { name: 'Alice', workerSid: WORKER, taskSid: task.taskSid };
const bob = { name: 'Bob', workerSid: OTHER_WORKER, taskSid: sid('WT', 2) };
const carol = { name: 'Carol', workerSid: sid('WK', 3), taskSid: sid('WT', 3) };

function view(overrides: Partial<ChatView> = {}): ChatView {
  return {
    conversationSid: CONVERSATION,
    tracked: true,
    ended: false,
    endReason: null,
    closedBy: null,
    customerLeft: false,
    tasks: [],
    agents: [me],
    transfers: [],
    ...overrides,
  };
}

/** ChatViews over a client that answers from `answers` (a view, or an error). */
function viewsAnswering(...answers: Array<ChatView | ServiceError>) {
  const asked: string[] = [];
  const views = new ChatViews(
    {
      chat: async (conversationSid) => {
        asked.push(conversationSid);
        const answer = answers.length > 1 ? answers.shift()! : answers[0];
        if (answer instanceof ServiceError) throw answer;
        return answer;
      },
    },
    60_000,
  );
  return { views, asked };
}

function leaverRecording(outcome: Promise<'leaving'> = Promise.resolve('leaving')) {
  const left: string[] = [];
  const leaver: Pick<ChatLeaver, 'leave'> = { leave: async (t) => (left.push(t.taskSid), outcome) };
  return { leaver, left };
}

describe('LeaveChatButton', () => {
  const renderButton = (views: ChatViews, pending = new PendingTransfers(), leaver = leaverRecording().leaver) =>
    render(<LeaveChatButton task={task} leaver={leaver} views={views} pending={pending} strings={en} />);

  it.each([
    ['nobody else is here: the chat ends', view(), 'End chat'],
    ['one colleague stays', view({ agents: [me, bob] }), 'Leave chat — 1 other agent is here'],
    ['two colleagues stay', view({ agents: [bob, me, carol] }), 'Leave chat — 2 other agents are here'],
    ['a transfer is being set up', view({ transfers: [{ id: 'h1', kind: 'transfer', openedAt: 1 }] }), 'Leave chat'],
  ])('says what happens when %s', async (_case, chat, label) => {
    renderButton(viewsAnswering(chat).views);
    expect(await screen.findByRole('button', { name: label })).toBeTruthy();
  });

  it('says only "Leave chat" while who is here is unknown', async () => {
    renderButton(viewsAnswering(new ServiceError(404, 'not tracked')).views);
    await waitFor(() => expect(screen.getByRole('button').textContent).toBe('Leave chat'));
  });

  it('leaves through the service when clicked', async () => {
    const { leaver, left } = leaverRecording();
    renderButton(viewsAnswering(view({ agents: [me, bob] })).views, new PendingTransfers(), leaver);
    fireEvent.click(await screen.findByRole('button', { name: 'Leave chat — 1 other agent is here' }));
    await waitFor(() => expect(left).toEqual([task.taskSid]));
  });

  it('shows that it is leaving, and cannot be clicked again meanwhile', async () => {
    let done: (value: 'leaving') => void = () => undefined;
    const { leaver, left } = leaverRecording(new Promise((resolve) => (done = resolve)));
    renderButton(viewsAnswering(view()).views, new PendingTransfers(), leaver);
    const button = await screen.findByRole('button', { name: 'End chat' });
    fireEvent.click(button);
    await waitFor(() => expect(button.textContent).toBe('Leaving…'));
    expect((button as HTMLButtonElement).disabled).toBe(true);
    fireEvent.click(button);
    await act(async () => done('leaving'));
    expect(left).toEqual([task.taskSid]);
  });

  it('is disabled while the agent’s transfer of the chat is being set up', async () => {
    const pending = new PendingTransfers();
    renderButton(viewsAnswering(view()).views, pending);
    const button = (await screen.findByRole('button', { name: 'End chat' })) as HTMLButtonElement;
    expect(button.disabled).toBe(false);
    act(() => void pending.start({ taskSid: task.taskSid, targetSid: QUEUE, mode: 'COLD' }));
    expect(button.disabled).toBe(true);
    act(() => pending.finish(task.taskSid));
    expect(button.disabled).toBe(false);
  });

  it('speaks the agent’s language', async () => {
    render(
      <LeaveChatButton
        task={task}
        leaver={leaverRecording().leaver}
        views={viewsAnswering(view({ agents: [me, bob] })).views}
        pending={new PendingTransfers()}
        strings={stringsFor('es-MX')}
      />,
    );
    expect(await screen.findByRole('button', { name: 'Salir del chat — hay 1 agente más' })).toBeTruthy();
  });
});

describe('ChatPeoplePanel', () => {
  it('lists the agents in the chat, marks the agent, and the transfers being set up', async () => {
    const chat = view({ agents: [me, bob], transfers: [{ id: 'h1', kind: 'transfer', openedAt: 1764489600 }, { id: 'h2', kind: 'requeue', openedAt: 1764489601 }] });
    const { container } = render(<ChatPeoplePanel task={task} views={viewsAnswering(chat).views} strings={en} />);
    await screen.findByText('Agents in this chat');
    const agents = [...container.querySelectorAll('.ChatTransfer-People__agents li')].map((li) => li.textContent);
    expect(agents).toEqual(['Alice (you)', 'Bob']);
    const transfers = [...container.querySelectorAll('.ChatTransfer-People__transfers li')].map((li) => li.textContent?.split(' ')[0]);
    expect(transfers).toEqual(['Transfer', 'Back']);
  });

  it('says when the chat has ended and nobody is left', async () => {
    render(<ChatPeoplePanel task={task} views={viewsAnswering(view({ ended: true, agents: [] })).views} strings={en} />);
    expect(await screen.findByText('This chat has ended')).toBeTruthy();
    expect(screen.getByText('No agent is in this chat')).toBeTruthy();
  });

  it('says when it cannot tell', async () => {
    render(<ChatPeoplePanel task={task} views={viewsAnswering(new ServiceError(0, 'Failed to fetch')).views} strings={en} />);
    expect(await screen.findByText('Who is in this chat cannot be shown right now')).toBeTruthy();
  });
});

describe('ChatViews', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('reads a chat once per interval for all who show it, and stops when none does', async () => {
    const { views, asked } = viewsAnswering(view());
    const seen: string[] = [];
    const stopA = views.subscribe(CONVERSATION, (state) => seen.push(`a:${state.status}`));
    const stopB = views.subscribe(CONVERSATION, (state) => seen.push(`b:${state.status}`));
    await act(async () => undefined);
    expect(asked).toHaveLength(1);
    expect(seen).toEqual(['a:loading', 'b:loading', 'a:ready', 'b:ready']);
    await act(async () => void jest.advanceTimersByTime(60_000));
    expect(asked).toHaveLength(2);
    stopA();
    stopB();
    await act(async () => void jest.advanceTimersByTime(600_000));
    expect(asked).toHaveLength(2);
  });

  it('reads again at once when asked to', async () => {
    const { views, asked } = viewsAnswering(view());
    const stop = views.subscribe(CONVERSATION, () => undefined);
    await act(async () => undefined);
    views.refresh(CONVERSATION);
    await act(async () => undefined);
    expect(asked).toHaveLength(2);
    stop();
  });
});

describe('NoticeMessage', () => {
  const message = (attributes: unknown, body = 'the body') => ({ source: { body, attributes } });

  it('shows a notice centred, in the agent’s language, from the names in its attributes', () => {
    const { container } = render(
      <NoticeMessage
        message={message({ notification: true, notificationType: 'transfer-started', targetName: 'Sales', transferType: 'WARM' })}
        strings={stringsFor('pt-BR')}
      />,
    );
    const notice = container.querySelector('.ChatTransfer-Notice') as HTMLElement;
    expect(notice.getAttribute('role')).toBe('status');
    expect(notice.dataset.notificationType).toBe('transfer-started');
    expect(notice.style.justifyContent).toBe('center');
    expect(notice.textContent).toBe('Transferência assistida para Sales iniciada');
  });

  it('reads attributes given as a JSON string, and shows the message’s own text for a type it does not know', () => {
    const { container } = render(
      <NoticeMessage message={message(JSON.stringify({ notification: true, notificationType: 'new-kind' }), 'Something new')} strings={en} />,
    );
    expect(container.textContent).toBe('Something new');
  });

  it('is nothing for a message that is not a notice', () => {
    const { container } = render(<NoticeMessage message={message({ notificationType: 'joined' })} strings={en} />);
    expect(container.innerHTML).toBe('');
  });
});

describe('TransferButton', () => {
  it("opens Flex's directory", () => {
    const invoked: string[] = [];
    const actions = { invokeAction: async (name: string) => invoked.push(name), addListener: jest.fn() } as unknown as PluginFlex['Actions'];
    render(<TransferButton actions={actions} label="Transfer" />);
    fireEvent.click(screen.getByRole('button', { name: 'Transfer' }));
    expect(invoked).toEqual(['ShowDirectory']);
  });
});
