import { NotificationId } from '../src/flex-hooks/notifications/ChatTransferNotifications';
import { ChatTransfers, randomKey } from '../src/utils/ChatTransfers';
import { PendingTransfers } from '../src/utils/PendingTransfers';
import { ServiceClient } from '../src/utils/ServiceClient';
import { fakeFetch, noSleep, QUEUE, RecordedRequest, sid } from './fakes';

const TASK = sid('WT', 1);
const TRANSFER_ID = 'b'.repeat(32);
const REQUEST = { taskSid: TASK, targetSid: QUEUE, mode: 'WARM' as const };

/** The service's answers, one list per endpoint, in order. */
function setUp(answers: { post?: unknown[]; get?: unknown[] }, maxWaitMs?: number) {
  const posts = [...(answers.post ?? [])];
  const gets = [...(answers.get ?? [])];
  const fake = fakeFetch((request: RecordedRequest) => {
    const next = request.method === 'POST' ? posts.shift() : gets.shift();
    if (next === undefined) throw new Error(`unexpected ${request.method} ${request.url}`);
    return next as never;
  });
  const pending = new PendingTransfers();
  const notifications: Array<[NotificationId, Record<string, string> | undefined]> = [];
  let key = 0;
  const transfers = new ChatTransfers({
    client: new ServiceClient({ baseUrl: 'https://ct.example.com', token: () => 't', fetch: fake.fetch, sleep: noSleep }),
    pending,
    notify: (id, context) => notifications.push([id, context]),
    newKey: () => `key-${++key}`,
    sleep: noSleep,
    pollIntervalMs: 1000,
    maxWaitMs,
  });
  return { transfers, pending, notifications, requests: fake.requests };
}

const accepted = { status: 202, body: { transferId: TRANSFER_ID, status: 'pending' } };
const state = (status: string, reason: string | null = null) => ({
  status: 200,
  body: { transferId: TRANSFER_ID, status, reason, transferTaskSid: status === 'created' ? sid('WT', 2) : null },
});

describe('a chat transfer', () => {
  it('is requested, followed until created, and said so', async () => {
    const { transfers, pending, notifications, requests } = setUp({ post: [accepted], get: [state('pending'), state('created')] });
    const outcome = transfers.transfer(REQUEST);
    expect(pending.get(TASK)).toEqual(REQUEST); // pending from the click on
    await expect(outcome).resolves.toBe('created');
    expect(notifications.map(([id]) => id)).toEqual([NotificationId.TransferRequested, NotificationId.TransferCreated]);
    expect(requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'POST https://ct.example.com/transfers',
      `GET https://ct.example.com/transfers/${TRANSFER_ID}`,
      `GET https://ct.example.com/transfers/${TRANSFER_ID}`,
    ]);
    expect(pending.has(TASK)).toBe(false);
  });

  it('that fails says why', async () => {
    const { transfers, notifications, pending } = setUp({ post: [accepted], get: [state('failed', 'nobody took it')] });
    await expect(transfers.transfer(REQUEST)).resolves.toBe('failed');
    expect(notifications.at(-1)).toEqual([NotificationId.TransferFailed, { reason: 'nobody took it' }]);
    expect(pending.has(TASK)).toBe(false);
  });

  it('clicked twice is sent once', async () => {
    const { transfers, notifications, requests } = setUp({ post: [accepted], get: [state('created')] });
    const first = transfers.transfer(REQUEST);
    const second = transfers.transfer(REQUEST);
    await expect(second).resolves.toBe('already-pending');
    await expect(first).resolves.toBe('created');
    expect(requests.filter((r) => r.method === 'POST')).toHaveLength(1);
    expect(notifications.map(([id]) => id)).toContain(NotificationId.TransferAlreadyPending);
  });

  it('gets a new Idempotency-Key per click', async () => {
    const { transfers, requests } = setUp({ post: [accepted, accepted], get: [state('created'), state('created')] });
    await transfers.transfer(REQUEST);
    await transfers.transfer(REQUEST);
    const keys = requests.filter((r) => r.method === 'POST').map((r) => r.headers['Idempotency-Key']);
    expect(keys).toEqual(['key-1', 'key-2']);
  });

  it('follows the transfer someone else started (409)', async () => {
    const conflict = { status: 409, body: { error: 'a transfer is being set up', transferId: TRANSFER_ID } };
    const { transfers, notifications } = setUp({ post: [conflict], get: [state('created')] });
    await expect(transfers.transfer(REQUEST)).resolves.toBe('created');
    expect(notifications.map(([id]) => id)).toEqual([NotificationId.TransferAlreadyPending, NotificationId.TransferCreated]);
  });

  it('refused by the service shows its reason and is not pending any more', async () => {
    const refusal = { status: 403, body: { error: 'only the agent on the task, or a supervisor, can transfer it' } };
    const { transfers, notifications, pending } = setUp({ post: [refusal] });
    await expect(transfers.transfer(REQUEST)).resolves.toBe('refused');
    expect(notifications).toEqual([
      [NotificationId.TransferRefused, { reason: 'only the agent on the task, or a supervisor, can transfer it' }],
    ]);
    expect(pending.has(TASK)).toBe(false);
  });

  it('that cannot reach the service says so', async () => {
    const { transfers, notifications } = setUp({ post: Array(4).fill('network-error') });
    await expect(transfers.transfer(REQUEST)).resolves.toBe('unreachable');
    expect(notifications).toEqual([[NotificationId.ServiceUnreachable, undefined]]);
  });

  it('keeps polling through a 503, and stops on an unknown transfer', async () => {
    const unavailable = { status: 503, body: { error: 'retry' } };
    const unknown = { status: 404, body: { error: 'unknown transfer', field: 'transferId' } };
    const { transfers, notifications } = setUp({ post: [accepted], get: [unavailable, 'network-error', unknown] });
    await expect(transfers.transfer(REQUEST)).resolves.toBe('failed');
    expect(notifications.at(-1)).toEqual([NotificationId.TransferFailed, { reason: 'unknown transfer' }]);
  });

  it('stops waiting after maxWaitMs, and no longer blocks the agent', async () => {
    const { transfers, notifications, pending, requests } = setUp({ post: [accepted], get: Array(3).fill(state('pending')) }, 3000);
    await expect(transfers.transfer(REQUEST)).resolves.toBe('unconfirmed');
    expect(requests.filter((r) => r.method === 'GET')).toHaveLength(3);
    expect(notifications.at(-1)).toEqual([NotificationId.ServiceUnreachable, undefined]);
    expect(pending.has(TASK)).toBe(false);
  });
});

describe('randomKey', () => {
  it('makes version-4 UUIDs, also where crypto.randomUUID is missing (an insecure origin)', () => {
    const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    expect(randomKey()).toMatch(uuid);
    const original = crypto.randomUUID;
    Object.defineProperty(crypto, 'randomUUID', { configurable: true, value: undefined });
    try {
      const keys = new Set(Array.from({ length: 50 }, randomKey));
      expect(keys.size).toBe(50);
      keys.forEach((k) => expect(k).toMatch(uuid));
    } finally {
      Object.defineProperty(crypto, 'randomUUID', { configurable: true, value: original });
    }
  });
});
