/** The service's browser-facing endpoints as a fake `fetch`, answering as the service's webhooks/openapi.json describes. */
import type { ChatView } from '../src/utils/ServiceClient';
import { CONVERSATION, fakeFetch, FakeAnswer, RecordedRequest, sid, WORKER } from './fakes';

export const SERVICE_URL = 'https://chat-transfer.example.com';
export const TRANSFER_ID = 'c'.repeat(32);

export type Operation = 'POST /transfers' | 'GET /transfers/{id}' | 'POST /tasks/{sid}/leave' | 'GET /chats/{sid}';

export interface Exchange {
  request: RecordedRequest;
  answer: FakeAnswer | 'network-error';
}

function operation(request: RecordedRequest): Operation {
  const path = new URL(request.url).pathname;
  if (request.method === 'POST' && path === '/transfers') return 'POST /transfers';
  if (request.method === 'GET' && path.startsWith('/transfers/')) return 'GET /transfers/{id}';
  if (request.method === 'POST' && /^\/tasks\/[^/]+\/leave$/.test(path)) return 'POST /tasks/{sid}/leave';
  if (request.method === 'GET' && path.startsWith('/chats/')) return 'GET /chats/{sid}';
  throw new Error(`the fake service has no ${request.method} ${path}`);
}

export function chatView(overrides: Partial<ChatView> = {}): ChatView {
  return {
    conversationSid: CONVERSATION,
    tracked: true,
    ended: false,
    endReason: null,
    closedBy: null,
    customerLeft: false,
    tasks: [{ taskSid: sid('WT', 1), status: 'inflight', reason: null, assigned: true, transferId: null, transferMode: null }],
    agents: [{ name: 'Alice', workerSid: WORKER, taskSid: sid('WT', 1) }],
    transfers: [],
    ...overrides,
  };
}

export function fakeService() {
  const queued = new Map<Operation, Array<FakeAnswer | 'network-error'>>();
  const exchanges: Exchange[] = [];
  let view = chatView();

  const defaults = (op: Operation, request: RecordedRequest): FakeAnswer => {
    const body = request.body as Record<string, string> | undefined;
    switch (op) {
      case 'POST /transfers':
        return { status: 202, body: { transferId: TRANSFER_ID, status: 'pending' } };
      case 'GET /transfers/{id}':
        return {
          status: 200,
          body: {
            transferId: TRANSFER_ID,
            status: 'created',
            taskSid: sid('WT', 1),
            targetSid: sid('WK', 2),
            mode: 'WARM',
            transferTaskSid: sid('WT', 2),
            conversationSid: CONVERSATION,
            strategy: 'invite',
            reason: null,
          },
        };
      case 'POST /tasks/{sid}/leave':
        return {
          status: 202,
          body: { taskSid: decodeURIComponent(request.url.split('/')[4]), conversationSid: CONVERSATION, status: 'leaving' },
        };
      case 'GET /chats/{sid}':
        return body ? { status: 400, body: { error: 'unexpected body' } } : { status: 200, body: view };
    }
  };

  const { fetch, requests } = fakeFetch((request) => {
    const op = operation(request);
    const answer = queued.get(op)?.shift() ?? defaults(op, request);
    exchanges.push({ request, answer });
    return answer;
  });

  return {
    fetch,
    requests,
    exchanges,
    /** The next answers to `op`, in order; then the defaults again. */
    answer(op: Operation, ...answers: Array<FakeAnswer | 'network-error'>) {
      queued.set(op, [...(queued.get(op) ?? []), ...answers]);
    },
    setView(next: ChatView) {
      view = next;
    },
  };
}
