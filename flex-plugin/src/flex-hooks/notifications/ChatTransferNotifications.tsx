import React from 'react';

import type { PluginFlex } from '../../utils/flexTypes';
import { format, Strings } from '../../utils/strings';

export enum NotificationId {
  TransferRequested = 'ChatTransferRequested',
  TransferAlreadyPending = 'ChatTransferAlreadyPending',
  TransferCreated = 'ChatTransferCreated',
  TransferFailed = 'ChatTransferFailed',
  TransferRefused = 'ChatTransferRefused',
  TransferPendingBlocksWrapup = 'ChatTransferPendingBlocksWrapup',
  LeaveFailed = 'ChatTransferLeaveFailed',
  ServiceUnreachable = 'ChatTransferServiceUnreachable',
}

const SETTLED = new Set<NotificationId>([
  NotificationId.TransferCreated,
  NotificationId.TransferFailed,
  NotificationId.ServiceUnreachable,
]);

export type Notify = (id: NotificationId, context?: Record<string, string>) => void;

/**
 * Flex renders a notification's React content with `notificationContext` (the context given to
 * `Notifications.showNotification`; @twilio/flex-ui NotificationManager.d.ts, NotificationContentProps).
 */
function NotificationText(props: { template: string; notificationContext?: object }) {
  return <span>{format(props.template, props.notificationContext as Record<string, string> | undefined)}</span>;
}

export function registerNotifications(flex: PluginFlex, strings: Strings): Notify {
  const { information, success, error, warning } = flex.NotificationType;
  const texts = strings.notification;
  const all: Array<[NotificationId, string, PluginFlex['NotificationType'][keyof PluginFlex['NotificationType']]]> = [
    [NotificationId.TransferRequested, texts.transferRequested, information],
    [NotificationId.TransferAlreadyPending, texts.transferAlreadyPending, warning],
    [NotificationId.TransferCreated, texts.transferCreated, success],
    [NotificationId.TransferFailed, texts.transferFailed, error],
    [NotificationId.TransferRefused, texts.transferRefused, error],
    [NotificationId.TransferPendingBlocksWrapup, texts.transferPendingBlocksWrapup, warning],
    [NotificationId.LeaveFailed, texts.leaveFailed, error],
    [NotificationId.ServiceUnreachable, texts.serviceUnreachable, error],
  ];
  for (const [id, template, type] of all) {
    // Flex refuses a second registration of an id (a plugin loaded again, as `flex-plugin start`
    // does on a change); the newest texts win.
    flex.Notifications.registeredNotifications.delete(id);
    flex.Notifications.registerNotification({
      id,
      type,
      content: <NotificationText template={template} />,
      closeButton: true,
      timeout: type === error ? 0 : 5000,
    });
  }
  return (id, context) => {
    // "Transferring…" gives way to how the transfer went.
    if (SETTLED.has(id)) flex.Notifications.dismissNotificationById(NotificationId.TransferRequested);
    flex.Notifications.showNotification(id, context);
  };
}
