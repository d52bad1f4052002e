import React from 'react';

import { LeaveChatButton } from '../../custom-components/LeaveChatButton/LeaveChatButton';
import { TransferButton } from '../../custom-components/TransferButton/TransferButton';
import { isChatTask } from '../../utils/chatTasks';
import type { ChatLeaver } from '../../utils/ChatLeaver';
import type { ChatViews } from '../../utils/ChatViews';
import type { PluginFlex, PluginTask } from '../../utils/flexTypes';
import type { PendingTransfers } from '../../utils/PendingTransfers';
import type { Strings } from '../../utils/strings';

export interface HeaderDeps {
  readonly leaver: Pick<ChatLeaver, 'leave'>;
  readonly views: ChatViews;
  readonly pending: PendingTransfers;
  readonly strings: Strings;
  readonly nativeTransfersWin: (task: PluginTask) => boolean;
}

/**
 * On a chat the agent is in, the header's End chat (its `actions` fragment) becomes Leave chat, and
 * a Transfer button opens Flex's directory — as the Flex template's conversation-transfer feature
 * does in TaskCanvasHeader (remove 'actions', add LeaveChatButton and TransferButton).
 */
export function registerTaskCanvasHeader(flex: PluginFlex, deps: HeaderDeps): void {
  const inChat = (task: PluginTask | undefined): task is PluginTask =>
    isChatTask(flex, task) && task.taskStatus === 'assigned';
  const Leave = flex.withTaskContext(LeaveChatButton);
  flex.TaskCanvasHeader.Content.remove('actions', { if: ({ task }) => inChat(task) });
  flex.TaskCanvasHeader.Content.add(
    <Leave key="chat-transfer-leave" leaver={deps.leaver} views={deps.views} pending={deps.pending} strings={deps.strings} />,
    { sortOrder: 100, if: ({ task }) => inChat(task) },
  );
  flex.TaskCanvasHeader.Content.add(
    <TransferButton key="chat-transfer-transfer" actions={flex.Actions} label={deps.strings.transferButton} />,
    { sortOrder: 99, if: ({ task }) => inChat(task) && !deps.nativeTransfersWin(task) },
  );
}
