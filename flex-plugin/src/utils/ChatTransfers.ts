import { NotificationId, Notify } from '../flex-hooks/notifications/ChatTransferNotifications';
import type { PendingTransfers } from './PendingTransfers';
import { ServiceClient, ServiceError, TransferRequest } from './ServiceClient';

export interface ChatTransfersDeps {
  readonly client: Pick<ServiceClient, 'requestTransfer' | 'transferState'>;
  readonly pending: PendingTransfers;
  readonly notify: Notify;
  /** A new Idempotency-Key: one per click. */
  readonly newKey: () => string;
  readonly sleep: (ms: number) => Promise<void>;
  readonly pollIntervalMs: number;
  /** How long a transfer may stay `pending` before the UI stops waiting for it (and unblocks wrap-up). */
  readonly maxWaitMs?: number;
}

export type TransferOutcome = 'created' | 'failed' | 'refused' | 'unreachable' | 'already-pending' | 'unconfirmed';

const DEFAULT_MAX_WAIT_MS = 120_000;

/** One agent's chat transfers: ask the service, follow the transfer until it settles, say how it went. */
export class ChatTransfers {
  constructor(private readonly deps: ChatTransfersDeps) {}

  /** Resolves once the transfer settled (created, failed) or the UI stopped waiting for it. */
  async transfer(request: TransferRequest): Promise<TransferOutcome> {
    const { pending, notify } = this.deps;
    if (!pending.start(request)) {
      // A second click while the first is being set up transfers nothing.
      notify(NotificationId.TransferAlreadyPending);
      return 'already-pending';
    }
    try {
      let accepted;
      try {
        accepted = await this.deps.client.requestTransfer(request, this.deps.newKey());
      } catch (error) {
        return this.refused(error);
      }
      pending.accepted(request.taskSid, accepted.transferId);
      notify(accepted.alreadyPending ? NotificationId.TransferAlreadyPending : NotificationId.TransferRequested);
      return await this.follow(accepted.transferId);
    } finally {
      pending.finish(request.taskSid);
    }
  }

  private refused(error: unknown): TransferOutcome {
    if (error instanceof ServiceError && !error.unreachable && error.status < 500) {
      this.deps.notify(NotificationId.TransferRefused, { reason: error.message });
      return 'refused';
    }
    this.deps.notify(NotificationId.ServiceUnreachable);
    return 'unreachable';
  }

  private async follow(transferId: string): Promise<TransferOutcome> {
    const { client, notify, sleep, pollIntervalMs } = this.deps;
    const polls = Math.max(1, Math.ceil((this.deps.maxWaitMs ?? DEFAULT_MAX_WAIT_MS) / pollIntervalMs));
    for (let poll = 0; poll < polls; poll += 1) {
      await sleep(pollIntervalMs);
      let state;
      try {
        state = await client.transferState(transferId);
      } catch (error) {
        if (error instanceof ServiceError && error.status === 404) {
          notify(NotificationId.TransferFailed, { reason: error.message });
          return 'failed';
        }
        continue; // unreachable or 503 for now: ask again at the next poll
      }
      if (state.status === 'created') {
        notify(NotificationId.TransferCreated);
        return 'created';
      }
      if (state.status !== 'pending') {
        notify(NotificationId.TransferFailed, { reason: state.reason ?? state.status });
        return 'failed';
      }
    }
    notify(NotificationId.ServiceUnreachable);
    return 'unconfirmed';
  }
}

/** A random version-4 UUID, from the browser's CSPRNG. */
export function randomKey(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
