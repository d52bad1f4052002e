import { format, Strings } from './strings';

/** What the service puts in a notice's message attributes (CONTRACT §5, Notifications). */
export interface NoticeAttributes {
  notification: true;
  notificationType: string;
  workerName?: string;
  targetName?: string;
  transferType?: string;
}

export function isNotice(attributes: unknown): attributes is NoticeAttributes {
  return (
    typeof attributes === 'object' &&
    attributes !== null &&
    (attributes as { notification?: unknown }).notification === true
  );
}

/** The notice in the agent's language, or null for a type this plugin does not know. */
export function noticeText(attributes: NoticeAttributes, strings: Strings): string | null {
  const params = {
    workerName: attributes.workerName,
    targetName: attributes.targetName,
  };
  switch (attributes.notificationType) {
    case 'joined':
      return format(strings.notice.joined, params);
    case 'left':
      return format(strings.notice.left, params);
    case 'transfer-started':
      // The service says "COLD" when transferType is missing; so does this.
      return format(
        attributes.transferType === 'WARM' ? strings.notice.transferStartedWarm : strings.notice.transferStartedCold,
        params,
      );
    case 'transfer-failed':
      return format(strings.notice.transferFailed, params);
    case 'chat-ended':
      return strings.notice.chatEnded;
    default:
      return null;
  }
}
