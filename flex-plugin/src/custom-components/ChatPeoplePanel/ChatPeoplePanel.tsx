import React from 'react';

import { conversationSidOf } from '../../utils/chatTasks';
import { ChatViews, useChatView } from '../../utils/ChatViews';
import type { PluginTask } from '../../utils/flexTypes';
import type { Strings } from '../../utils/strings';

export interface ChatPeoplePanelProps {
  readonly task?: PluginTask;
  readonly views: ChatViews;
  readonly strings: Strings;
}

const PANEL: React.CSSProperties = { padding: '16px 24px', overflowY: 'auto', fontSize: 14, lineHeight: '20px' };
const HEADING: React.CSSProperties = { fontSize: 12, fontWeight: 600, textTransform: 'uppercase', margin: '16px 0 8px' };
const LIST: React.CSSProperties = { listStyle: 'none', margin: 0, padding: 0 };
const ITEM: React.CSSProperties = { padding: '6px 0', borderBottom: '1px solid #e1e3ea' };
const MUTED: React.CSSProperties = { color: '#606b85' };

/** Who is in the chat now and which transfers are being set up, as the service tracks it. */
export function ChatPeoplePanel({ task, views, strings }: ChatPeoplePanelProps) {
  const state = useChatView(views, task ? conversationSidOf(task) : null);
  if (!task) return null;
  if (state.status === 'loading') return <div style={PANEL} className="ChatTransfer-People" aria-busy="true" />;
  if (state.status === 'unavailable') {
    return (
      <div style={PANEL} className="ChatTransfer-People">
        <p style={MUTED}>{strings.chatUnavailable}</p>
      </div>
    );
  }
  const { view } = state;
  return (
    <div style={PANEL} className="ChatTransfer-People" data-ended={view.ended}>
      {view.ended && <p style={MUTED}>{strings.chatHasEnded}</p>}
      <h3 style={HEADING}>{strings.agentsHeading}</h3>
      {view.agents.length === 0 ? (
        <p style={MUTED}>{strings.nobodyHere}</p>
      ) : (
        <ul style={LIST} className="ChatTransfer-People__agents">
          {view.agents.map((agent) => (
            <li key={`${agent.workerSid}:${agent.taskSid}`} style={ITEM} data-worker-sid={agent.workerSid}>
              {agent.name}
              {agent.taskSid === task.taskSid && <span style={MUTED}> ({strings.you})</span>}
            </li>
          ))}
        </ul>
      )}
      {view.transfers.length > 0 && (
        <>
          <h3 style={HEADING}>{strings.transfersHeading}</h3>
          <ul style={LIST} className="ChatTransfer-People__transfers">
            {view.transfers.map((transfer) => (
              <li key={transfer.id} style={ITEM}>
                {transfer.kind === 'requeue' ? strings.requeueBeingSetUp : strings.transferBeingSetUp}{' '}
                <span style={MUTED}>{new Date(transfer.openedAt * 1000).toLocaleTimeString()}</span>
              </li>
            ))}
          </ul>
        </>
      )}
    </div>
  );
}
