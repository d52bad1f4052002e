import React, { useEffect, useRef, useState } from 'react';

import { conversationSidOf } from '../../utils/chatTasks';
import type { ChatLeaver } from '../../utils/ChatLeaver';
import { ChatViewState, ChatViews, useChatView } from '../../utils/ChatViews';
import type { PluginTask } from '../../utils/flexTypes';
import type { PendingTransfers } from '../../utils/PendingTransfers';
import { plural, Strings } from '../../utils/strings';
import { usePendingTransfer } from '../../utils/usePendingTransfer';

export interface LeaveChatButtonProps {
  readonly task?: PluginTask;
  readonly leaver: Pick<ChatLeaver, 'leave'>;
  readonly views: ChatViews;
  readonly pending: PendingTransfers;
  readonly strings: Strings;
}

/**
 * "End chat" when nobody else is in the chat and no transfer is being set up (the service will end
 * it), "Leave chat — N other agents are here" when others stay, "Leave chat" when that is unknown.
 */
export function leaveLabel(state: ChatViewState, taskSid: string, strings: Strings): string {
  if (state.status !== 'ready') return strings.leaveChat;
  const others = state.view.agents.filter((agent) => agent.taskSid !== taskSid).length;
  if (others > 0) return plural(strings.leaveChatOthersHere, others);
  return state.view.transfers.length > 0 && !state.view.ended ? strings.leaveChat : strings.endChat;
}

const STYLE: React.CSSProperties = {
  background: '#d61f1f',
  color: '#fff',
  border: 'none',
  borderRadius: 4,
  padding: '0 16px',
  minHeight: 32,
  fontWeight: 600,
  fontSize: 14,
  cursor: 'pointer',
};

export function LeaveChatButton({ task, leaver, views, pending, strings }: LeaveChatButtonProps) {
  const [leaving, setLeaving] = useState(false);
  const mounted = useRef(true);
  useEffect(
    () => () => {
      mounted.current = false;
    },
    [],
  );
  const conversationSid = task ? conversationSidOf(task) : null;
  const state = useChatView(views, conversationSid);
  const transferPending = usePendingTransfer(pending, task?.taskSid);
  if (!task) return null;
  const label = leaveLabel(state, task.taskSid, strings);
  const onClick = async () => {
    setLeaving(true);
    try {
      await leaver.leave(task);
    } finally {
      // Once the agent has left, Flex shows the task wrapping and this button is gone.
      if (mounted.current) setLeaving(false);
      if (conversationSid) views.refresh(conversationSid);
    }
  };
  return (
    <button
      type="button"
      className="ChatTransfer-LeaveChatButton"
      style={{ ...STYLE, opacity: leaving || transferPending ? 0.6 : 1 }}
      disabled={leaving || transferPending}
      title={transferPending ? strings.notification.transferPendingBlocksWrapup : undefined}
      onClick={onClick}
    >
      {leaving ? strings.leaving : label}
    </button>
  );
}
