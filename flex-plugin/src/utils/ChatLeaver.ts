import { NotificationId, Notify } from '../flex-hooks/notifications/ChatTransferNotifications';
import type { PluginTask } from './flexTypes';
import type { PendingTransfers } from './PendingTransfers';
import { ServiceClient, ServiceError } from './ServiceClient';

export interface ChatLeaverDeps {
  readonly client: Pick<ServiceClient, 'leaveChat'>;
  readonly pending: PendingTransfers;
  readonly notify: Notify;
  /** Flex's own wrap-up, for a chat the service does not know (it answered 404 for the task). */
  readonly nativeWrapup: (task: PluginTask) => Promise<unknown>;
}

export type LeaveOutcome = 'leaving' | 'native' | 'blocked' | 'already-leaving' | 'failed';

/**
 * Leave chat in place of End chat: `POST /tasks/<taskSid>/leave`. The agent leaves the way Flex's
 * Leave does and the service ends the chat only if that was its last task (CONTRACT rule 2), so a
 * colleague still in the chat, or a transfer being set up, keeps the customer's chat open.
 */
export class ChatLeaver {
  private readonly leaving = new Set<string>();

  constructor(private readonly deps: ChatLeaverDeps) {}

  isLeaving(taskSid: string): boolean {
    return this.leaving.has(taskSid);
  }

  async leave(task: PluginTask): Promise<LeaveOutcome> {
    const { pending, notify } = this.deps;
    if (pending.has(task.taskSid)) {
      notify(NotificationId.TransferPendingBlocksWrapup);
      return 'blocked';
    }
    if (this.leaving.has(task.taskSid)) return 'already-leaving';
    this.leaving.add(task.taskSid);
    try {
      await this.deps.client.leaveChat(task.taskSid);
      return 'leaving';
    } catch (error) {
      if (error instanceof ServiceError && error.status === 404 && error.field === 'taskSid') {
        // The service never tracked this task: end it as Flex would without the plugin.
        await this.deps.nativeWrapup(task);
        return 'native';
      }
      if (error instanceof ServiceError && error.unreachable) notify(NotificationId.ServiceUnreachable);
      else notify(NotificationId.LeaveFailed, { reason: error instanceof Error ? error.message : String(error) });
      return 'failed';
    } finally {
      this.leaving.delete(task.taskSid);
    }
  }
}
