import { BuildEnv, nativeTransfersEnabled, readSettings } from './config';
import { registerTransferTask } from './flex-hooks/actions/TransferTask';
import { nativeWrapup, registerWrapupGuards } from './flex-hooks/actions/WrapupTask';
import { registerMessageListItem } from './flex-hooks/components/MessageListItem';
import { registerTaskCanvasHeader } from './flex-hooks/components/TaskCanvasHeader';
import { registerTaskCanvasTabs } from './flex-hooks/components/TaskCanvasTabs';
import { registerNotifications } from './flex-hooks/notifications/ChatTransferNotifications';
import { ChatLeaver } from './utils/ChatLeaver';
import { ChatTransfers, randomKey } from './utils/ChatTransfers';
import { ChatViews } from './utils/ChatViews';
import type { PluginFlex, PluginManager, PluginTask } from './utils/flexTypes';
import { agentLocale } from './utils/locale';
import { PendingTransfers } from './utils/PendingTransfers';
import { ServiceClient } from './utils/ServiceClient';
import { stringsFor } from './utils/strings';

export interface Overrides {
  readonly fetch?: typeof fetch;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly newKey?: () => string;
}

/** A pending transfer settles in seconds: it is read every second, for two minutes at most. */
const TRANSFER_POLL_INTERVAL_MS = 1000;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Everything the plugin adds to Flex; nothing at all when it has no service to talk to. */
export function registerChatTransfer(flex: PluginFlex, manager: PluginManager, env: BuildEnv, overrides: Overrides = {}) {
  const settings = readSettings(manager, env);
  if ('disabled' in settings) {
    console.warn(`chat-transfer: the plugin is off (${settings.disabled}); Flex keeps its own behaviour`);
    return null;
  }
  const strings = stringsFor(agentLocale(manager, typeof navigator === 'undefined' ? undefined : navigator.language));
  const client = new ServiceClient({
    baseUrl: settings.serviceUrl,
    token: () => manager.user.token,
    fetch: overrides.fetch,
    sleep: overrides.sleep,
  });
  const pending = new PendingTransfers();
  const views = new ChatViews(client, settings.pollIntervalMs);
  const notify = registerNotifications(flex, strings);
  const transfers = new ChatTransfers({
    client,
    pending,
    notify,
    newKey: overrides.newKey ?? randomKey,
    sleep: overrides.sleep ?? sleep,
    pollIntervalMs: TRANSFER_POLL_INTERVAL_MS,
  });
  const leaver = new ChatLeaver({ client, pending, notify, nativeWrapup: (task) => nativeWrapup(flex, task) });
  const nativeTransfersWin = (task: PluginTask) =>
    settings.useNativeTransfers && nativeTransfersEnabled(manager) && flex.TaskHelper.isCBMTask(task);

  registerTransferTask(flex, { transfers, nativeTransfersWin });
  registerWrapupGuards(flex, { pending, leaver, notify });
  registerTaskCanvasHeader(flex, { leaver, views, pending, strings, nativeTransfersWin });
  registerTaskCanvasTabs(flex, { views, strings });
  registerMessageListItem(flex, { strings });
  return { settings, client, pending, views, transfers, leaver, strings };
}
