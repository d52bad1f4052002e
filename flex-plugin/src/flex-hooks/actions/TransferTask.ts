import { isChatTask, taskOf } from '../../utils/chatTasks';
import type { ChatTransfers } from '../../utils/ChatTransfers';
import type { PluginFlex, PluginTask } from '../../utils/flexTypes';
import type { TransferMode } from '../../utils/ServiceClient';

/**
 * Flex's TransferTask payload (Flex UI actions reference: `{task?, sid?, targetSid, options?}`);
 * `options` are TaskRouter's transfer options, whose `mode` is 'WARM' or 'COLD' and defaults to
 * 'WARM' (twilio-taskrouter, TransferOptions). The directory's two buttons set it.
 */
export interface TransferTaskPayload {
  task?: PluginTask;
  sid?: string;
  targetSid: string;
  options?: { mode?: string };
}

export interface TransferTaskDeps {
  readonly transfers: Pick<ChatTransfers, 'transfer'>;
  /** True when Flex's native messaging transfers should handle this task instead. */
  readonly nativeTransfersWin: (task: PluginTask) => boolean;
}

export function transferMode(options: TransferTaskPayload['options']): TransferMode {
  return String(options?.mode ?? 'WARM').toUpperCase() === 'COLD' ? 'COLD' : 'WARM';
}

/**
 * Chat transfers go to the service: the native TransferTask is aborted for a chat task (it moves a
 * TaskRouter reservation, which for a chat neither adds the next agent to the conversation nor keeps
 * the chat open for the last-task rule) and `POST /transfers` is sent instead.
 */
export function registerTransferTask(flex: PluginFlex, deps: TransferTaskDeps): void {
  flex.Actions.addListener('beforeTransferTask', (payload: TransferTaskPayload, abort: () => void) => {
    const task = taskOf(flex, payload);
    if (!isChatTask(flex, task) || deps.nativeTransfersWin(task)) return;
    abort();
    // Not awaited: Flex keeps an action "pending" until its before-listeners return, and the
    // transfer is followed for seconds; its outcome is shown with Notifications.
    deps.transfers
      .transfer({ taskSid: task.taskSid, targetSid: payload.targetSid, mode: transferMode(payload.options) })
      .catch((error: unknown) => console.error('chat-transfer: transfer failed', error));
  });
}
