/**
 * The service's browser-facing endpoints (CONTRACT §4), over `fetch`. Every call reads the
 * agent's Flex token when it is sent, never before: Flex refreshes the token while it runs.
 */

export type TransferMode = 'WARM' | 'COLD';

export interface TransferRequest {
  readonly taskSid: string;
  readonly targetSid: string;
  readonly mode: TransferMode;
}

export interface TransferAccepted {
  readonly transferId: string;
  /** True when the service answered 409: another transfer of this task is already being set up. */
  readonly alreadyPending: boolean;
}

export interface TransferState {
  readonly transferId: string;
  readonly status: 'pending' | 'created' | 'failed' | string;
  readonly taskSid?: string;
  readonly targetSid?: string;
  readonly mode?: string;
  readonly transferTaskSid?: string | null;
  readonly conversationSid?: string | null;
  readonly strategy?: string | null;
  readonly reason?: string | null;
}

export interface LeaveAccepted {
  readonly taskSid: string;
  readonly conversationSid: string;
  readonly status: string;
}

export interface ChatAgent {
  readonly name: string;
  readonly workerSid: string;
  readonly taskSid: string;
}

export interface ChatView {
  readonly conversationSid: string;
  readonly tracked: boolean;
  readonly ended: boolean;
  readonly endReason: string | null;
  readonly closedBy: string | null;
  readonly customerLeft: boolean;
  readonly tasks: ReadonlyArray<{
    readonly taskSid: string;
    readonly status: 'inflight' | 'closed' | string;
    readonly reason: string | null;
    readonly assigned: boolean;
    readonly transferId: string | null;
    readonly transferMode: 'WARM' | 'COLD' | null;
  }>;
  readonly agents: ReadonlyArray<ChatAgent>;
  readonly transfers: ReadonlyArray<{ readonly id: string; readonly kind: string; readonly openedAt: number }>;
}

/** An answer other than the one asked for; `status` 0 when the service could not be reached. */
export class ServiceError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly field?: string,
    readonly body?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'ServiceError';
  }

  get unreachable(): boolean {
    return this.status === 0;
  }
}

export interface ServiceClientOptions {
  readonly baseUrl: string;
  /** The agent's current Flex token (`Manager.getInstance().user.token`), read at each call. */
  readonly token: () => string;
  readonly fetch?: typeof fetch;
  readonly sleep?: (ms: number) => Promise<void>;
  /** How often a transfer request is sent again when the service is unreachable or answers 429/503. */
  readonly retries?: number;
}

const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class ServiceClient {
  private readonly fetchImpl: typeof fetch;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly retries: number;

  constructor(private readonly options: ServiceClientOptions) {
    // The global is looked up at call time so a page (or a test) may set it after the plugin loads.
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
    this.sleep = options.sleep ?? sleepFor;
    this.retries = options.retries ?? 3;
  }

  /**
   * POST /transfers. One `idempotencyKey` per click: a request sent again after a lost answer or a
   * 503 carries the same key, so the service sets up one transfer; a 409 (another transfer of the
   * task is pending) answers with that transfer.
   */
  async requestTransfer(request: TransferRequest, idempotencyKey: string): Promise<TransferAccepted> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        const body = await this.send('POST', '/transfers', {
          body: { ...request, Token: this.options.token() },
          headers: { 'Idempotency-Key': idempotencyKey },
          accept: [202],
        });
        return { transferId: String(body.transferId), alreadyPending: false };
      } catch (error) {
        if (error instanceof ServiceError && error.status === 409 && typeof error.body?.transferId === 'string') {
          return { transferId: error.body.transferId, alreadyPending: true };
        }
        // 429 and 503: nothing was done (the rate limit, or the service could not queue).
        const transient = error instanceof ServiceError && (error.unreachable || error.status === 429 || error.status === 503);
        if (!transient || attempt >= this.retries) throw error;
        await this.sleep(500 * 2 ** attempt);
      }
    }
  }

  /** GET /transfers/<id>. */
  async transferState(transferId: string): Promise<TransferState> {
    const body = await this.send('GET', `/transfers/${encodeURIComponent(transferId)}`, { accept: [200] });
    return body as unknown as TransferState;
  }

  /** POST /tasks/<taskSid>/leave: the agent leaves; the service decides whether the chat ends. */
  async leaveChat(taskSid: string): Promise<LeaveAccepted> {
    const body = await this.send('POST', `/tasks/${encodeURIComponent(taskSid)}/leave`, {
      body: { Token: this.options.token() },
      accept: [202],
    });
    return body as unknown as LeaveAccepted;
  }

  /** GET /chats/<conversationSid>: who is in the chat and what is being set up. */
  async chat(conversationSid: string): Promise<ChatView> {
    const body = await this.send('GET', `/chats/${encodeURIComponent(conversationSid)}`, {
      headers: { 'X-Flex-Token': this.options.token() },
      accept: [200],
    });
    return body as unknown as ChatView;
  }

  private async send(
    method: 'GET' | 'POST',
    path: string,
    request: { body?: object; headers?: Record<string, string>; accept: number[] },
  ): Promise<Record<string, unknown>> {
    const headers: Record<string, string> = { Accept: 'application/json', ...request.headers };
    if (request.body) headers['Content-Type'] = 'application/json';
    let response: Response;
    try {
      response = await this.fetchImpl(`${this.options.baseUrl}${path}`, {
        method,
        headers,
        body: request.body ? JSON.stringify(request.body) : undefined,
      });
    } catch (error) {
      throw new ServiceError(0, error instanceof Error ? error.message : String(error));
    }
    const body = await readJson(response);
    if (!request.accept.includes(response.status)) {
      const message = typeof body.error === 'string' ? body.error : `HTTP ${response.status}`;
      const field = typeof body.field === 'string' ? body.field : undefined;
      throw new ServiceError(response.status, message, field, body);
    }
    return body;
  }
}

async function readJson(response: Response): Promise<Record<string, unknown>> {
  try {
    const body: unknown = await response.json();
    return typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
