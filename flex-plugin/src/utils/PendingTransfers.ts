import type { TransferRequest } from './ServiceClient';

export interface PendingTransfer extends TransferRequest {
  /** Known once the service accepted the request. */
  readonly transferId?: string;
}

/**
 * The transfers this agent's UI has asked for and not yet seen settle, by task. While a task has
 * one, the agent cannot wrap it up or leave it (the Flex template's lesson: ending while a transfer
 * is in flight strands the customer), and a second click transfers nothing.
 */
export class PendingTransfers {
  private readonly byTask = new Map<string, PendingTransfer>();
  private readonly listeners = new Set<() => void>();

  /** False when the task already has a pending transfer. */
  start(transfer: TransferRequest): boolean {
    if (this.byTask.has(transfer.taskSid)) return false;
    this.byTask.set(transfer.taskSid, transfer);
    this.changed();
    return true;
  }

  accepted(taskSid: string, transferId: string): void {
    const transfer = this.byTask.get(taskSid);
    if (!transfer) return;
    this.byTask.set(taskSid, { ...transfer, transferId });
    this.changed();
  }

  finish(taskSid: string): void {
    if (this.byTask.delete(taskSid)) this.changed();
  }

  get(taskSid: string): PendingTransfer | undefined {
    return this.byTask.get(taskSid);
  }

  has(taskSid: string): boolean {
    return this.byTask.has(taskSid);
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private changed(): void {
    this.listeners.forEach((listener) => listener());
  }
}
