import { isChatTask, taskOf } from '../../utils/chatTasks';
import type { ChatLeaver } from '../../utils/ChatLeaver';
import type { PluginFlex, PluginTask } from '../../utils/flexTypes';
import type { PendingTransfers } from '../../utils/PendingTransfers';
import { NotificationId, Notify } from '../notifications/ChatTransferNotifications';

interface TaskPayload {
  task?: PluginTask;
  sid?: string;
}

export interface WrapupDeps {
  readonly pending: PendingTransfers;
  readonly leaver: Pick<ChatLeaver, 'leave'>;
  readonly notify: Notify;
}

/** Tasks whose wrap-up this plugin itself asks Flex for (a chat the service does not know). */
const nativeWrapups = new Set<string>();

export async function nativeWrapup(flex: PluginFlex, task: PluginTask): Promise<unknown> {
  nativeWrapups.add(task.taskSid);
  try {
    return await flex.Actions.invokeAction('WrapupTask', { task });
  } finally {
    nativeWrapups.delete(task.taskSid);
  }
}

/**
 * - While the agent's transfer of a chat is still being set up, the chat can be neither wrapped up
 *   nor completed (the Flex template's conversation-transfer feature blocks WrapupTask the same way).
 * - Any other wrap-up or completion of a chat the agent is still in (a keyboard shortcut, another
 *   plugin) is a Leave: Flex's native End chat on a Flex Conversations task closes the chat for
 *   everyone. A task already wrapping (after Leave) completes as usual.
 */
export function registerWrapupGuards(flex: PluginFlex, deps: WrapupDeps): void {
  const guard = (payload: TaskPayload, abort: () => void) => {
    const task = taskOf(flex, payload);
    if (!isChatTask(flex, task) || nativeWrapups.has(task.taskSid)) return;
    if (deps.pending.has(task.taskSid)) {
      abort();
      deps.notify(NotificationId.TransferPendingBlocksWrapup);
      return;
    }
    if (task.taskStatus === 'assigned') {
      abort();
      deps.leaver.leave(task).catch((error: unknown) => console.error('chat-transfer: leave failed', error));
    }
  };
  flex.Actions.addListener('beforeWrapupTask', guard);
  flex.Actions.addListener('beforeCompleteTask', guard);
}
