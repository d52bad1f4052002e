/**
 * The parts of Flex this plugin uses, as narrow interfaces. The real `@twilio/flex-ui` types are
 * checked against them at compile time (the assertions at the bottom), so tests can pass small
 * fakes while `tsc --strict` keeps the code honest about the real API.
 */
import type * as Flex from '@twilio/flex-ui';

/** A Flex task as the plugin reads it (`ITask`: `sid` is the reservation, `taskSid` the task). */
export interface PluginTask {
  readonly sid: string;
  readonly taskSid: string;
  readonly taskStatus: string;
  readonly taskChannelUniqueName: string;
  readonly workerSid: string;
  readonly attributes: Record<string, unknown>;
}

export interface PluginTaskHelper {
  isCBMTask(task: PluginTask): boolean;
  isChatBasedTask(task: PluginTask): boolean;
  getTaskByTaskSid(reservationSid: string): PluginTask | undefined;
}

export interface PluginManager {
  readonly user: { readonly token: string; readonly identity: string };
  /** Flex's redux store; `flex.featureFlags.transfersConfig` is Flex's native messaging transfers setting. */
  readonly store: {
    getState(): { readonly flex: { readonly featureFlags: { readonly transfersConfig?: { readonly enabled?: boolean } } } };
  };
  readonly configuration: object;
  readonly serviceConfiguration: { readonly ui_attributes?: object };
  readonly workerClient?: { readonly sid: string; readonly attributes: Record<string, unknown> };
  readonly localization?: { readonly localeTag?: string };
}

/** The `flex` object a plugin's `init` receives, as far as this plugin uses it. */
export interface PluginFlex {
  readonly Actions: Pick<typeof Flex.Actions, 'addListener' | 'invokeAction'>;
  readonly Notifications: Pick<
    typeof Flex.Notifications,
    'registerNotification' | 'showNotification' | 'dismissNotificationById' | 'registeredNotifications'
  >;
  readonly NotificationType: typeof Flex.NotificationType;
  readonly TaskHelper: PluginTaskHelper;
  readonly TaskCanvasHeader: { readonly Content: Pick<typeof Flex.TaskCanvasHeader.Content, 'add' | 'remove'> };
  readonly TaskCanvasTabs: { readonly Content: Pick<typeof Flex.TaskCanvasTabs.Content, 'add'> };
  readonly MessageListItem: { readonly Content: Pick<typeof Flex.MessageListItem.Content, 'replace'> };
  readonly Tab: typeof Flex.Tab;
  /** Gives a component the selected task (`task`, `conversation`, …) from Flex's TaskContext. */
  readonly withTaskContext: typeof Flex.withTaskContext;
}

// Compile-time checks that the real Flex fits the narrow interfaces above.
type Assignable<From, To> = From extends To ? true : never;
export const flexFits: Assignable<typeof Flex, PluginFlex> = true;
export const managerFits: Assignable<Flex.Manager, PluginManager> = true;
export const taskFits: Assignable<Flex.ITask, PluginTask> = true;
