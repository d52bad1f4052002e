import React from 'react';

import { isNotice, noticeText } from '../../utils/notices';
import type { Strings } from '../../utils/strings';

/** What Flex's MessageListItem gives its content: `message.source` is the SDK's message. */
export interface NoticeMessageProps {
  readonly message?: { readonly source: { readonly body?: string | null; readonly attributes?: unknown } };
  readonly strings: Strings;
}

const ROW: React.CSSProperties = { display: 'flex', justifyContent: 'center', padding: '6px 12px' };
const PILL: React.CSSProperties = {
  maxWidth: '80%',
  padding: '4px 12px',
  borderRadius: 12,
  background: '#f4f4f6',
  color: '#606b85',
  fontSize: 12,
  lineHeight: '18px',
  textAlign: 'center',
};

export function messageAttributes(source: { readonly attributes?: unknown } | undefined): unknown {
  const attributes = source?.attributes;
  if (typeof attributes !== 'string') return attributes;
  try {
    return JSON.parse(attributes);
  } catch {
    return undefined;
  }
}

/** A notice from the service, centred in the message list and in the agent's language. */
export function NoticeMessage({ message, strings }: NoticeMessageProps) {
  const attributes = messageAttributes(message?.source);
  if (!message || !isNotice(attributes)) return null;
  const text = noticeText(attributes, strings) ?? message.source.body ?? '';
  return (
    <div style={ROW} className="ChatTransfer-Notice" role="status" data-notification-type={attributes.notificationType}>
      <span style={PILL} className="ChatTransfer-Notice__text">
        {text}
      </span>
    </div>
  );
}
