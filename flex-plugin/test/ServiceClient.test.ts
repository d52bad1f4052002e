import { ServiceClient, ServiceError } from '../src/utils/ServiceClient';
import { CONVERSATION, fakeFetch, noSleep, QUEUE, sid } from './fakes';

const BASE = 'https://ct.example.com';
const TASK = sid('WT', 1);
const TRANSFER_ID = 'a'.repeat(32);

function clientWith(route: Parameters<typeof fakeFetch>[0], tokens: string[] = ['token-1']) {
  const fake = fakeFetch(route);
  let calls = 0;
  const token = () => tokens[Math.min(calls++, tokens.length - 1)];
  const sleeps: number[] = [];
  const client = new ServiceClient({
    baseUrl: BASE,
    token,
    fetch: fake.fetch,
    sleep: (ms) => {
      sleeps.push(ms);
      return noSleep();
    },
  });
  return { client, requests: fake.requests, sleeps };
}

describe('POST /transfers', () => {
  const request = { taskSid: TASK, targetSid: QUEUE, mode: 'COLD' as const };

  it('sends the task, target, mode and the current token as JSON, with the click’s Idempotency-Key', async () => {
    const { client, requests } = clientWith(() => ({ status: 202, body: { transferId: TRANSFER_ID, status: 'pending' } }));
    await expect(client.requestTransfer(request, 'key-1')).resolves.toEqual({ transferId: TRANSFER_ID, alreadyPending: false });
    expect(requests).toEqual([
      {
        method: 'POST',
        url: `${BASE}/transfers`,
        headers: { Accept: 'application/json', 'Content-Type': 'application/json', 'Idempotency-Key': 'key-1' },
        body: { taskSid: TASK, targetSid: QUEUE, mode: 'COLD', Token: 'token-1' },
      },
    ]);
  });

  it('answers with the pending transfer on 409', async () => {
    const { client } = clientWith(() => ({ status: 409, body: { error: 'a transfer is being set up', transferId: TRANSFER_ID } }));
    await expect(client.requestTransfer(request, 'key-1')).resolves.toEqual({ transferId: TRANSFER_ID, alreadyPending: true });
  });

  it('sends again after a lost answer, a 503 or a 429, with the same key and the token of that moment', async () => {
    const answers = [
      'network-error' as const,
      { status: 503, body: { error: 'retry' } },
      { status: 429, body: { error: 'too many requests' } },
      { status: 202, body: { transferId: TRANSFER_ID } },
    ];
    const { client, requests, sleeps } = clientWith(() => answers.shift()!, ['token-1', 'token-2', 'token-3', 'token-4']);
    await expect(client.requestTransfer(request, 'key-1')).resolves.toMatchObject({ transferId: TRANSFER_ID });
    expect(requests.map((r) => r.headers['Idempotency-Key'])).toEqual(['key-1', 'key-1', 'key-1', 'key-1']);
    expect(requests.map((r) => (r.body as { Token: string }).Token)).toEqual(['token-1', 'token-2', 'token-3', 'token-4']);
    expect(sleeps).toEqual([500, 1000, 2000]);
  });

  it('gives up after its retries, saying the service is unreachable', async () => {
    const { client, requests } = clientWith(() => 'network-error');
    const error = await client.requestTransfer(request, 'key-1').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServiceError);
    expect((error as ServiceError).unreachable).toBe(true);
    expect(requests).toHaveLength(4);
  });

  it('does not repeat a refusal, and names the field', async () => {
    const { client, requests } = clientWith(() => ({ status: 400, body: { error: 'cannot transfer to yourself', field: 'targetSid' } }));
    const error = (await client.requestTransfer(request, 'key-1').catch((e: unknown) => e)) as ServiceError;
    expect([error.status, error.message, error.field]).toEqual([400, 'cannot transfer to yourself', 'targetSid']);
    expect(requests).toHaveLength(1);
  });

  it('reports an answer that is not JSON by its status', async () => {
    const { client } = clientWith(() => ({ status: 502 }));
    await expect(client.requestTransfer(request, 'k')).rejects.toMatchObject({ status: 502, message: 'HTTP 502' });
  });
});

describe('the other endpoints', () => {
  it('GET /transfers/<id> reads the transfer', async () => {
    const body = { transferId: TRANSFER_ID, status: 'created', transferTaskSid: sid('WT', 2) };
    const { client, requests } = clientWith(() => ({ status: 200, body }));
    await expect(client.transferState(TRANSFER_ID)).resolves.toEqual(body);
    expect(requests[0]).toMatchObject({ method: 'GET', url: `${BASE}/transfers/${TRANSFER_ID}`, body: undefined });
  });

  it('POST /tasks/<sid>/leave sends the token in the body, once', async () => {
    const { client, requests } = clientWith(() => ({ status: 503, body: { error: 'cannot queue' } }));
    await expect(client.leaveChat(TASK)).rejects.toMatchObject({ status: 503 });
    expect(requests).toEqual([
      {
        method: 'POST',
        url: `${BASE}/tasks/${TASK}/leave`,
        headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
        body: { Token: 'token-1' },
      },
    ]);
  });

  it('GET /chats/<CH> sends the token in X-Flex-Token', async () => {
    const view = { conversationSid: CONVERSATION, agents: [], transfers: [] };
    const { client, requests } = clientWith(() => ({ status: 200, body: view }), ['token-9']);
    await expect(client.chat(CONVERSATION)).resolves.toEqual(view);
    expect(requests[0]).toEqual({
      method: 'GET',
      url: `${BASE}/chats/${CONVERSATION}`,
      headers: { Accept: 'application/json', 'X-Flex-Token': 'token-9' },
      body: undefined,
    });
  });
});
