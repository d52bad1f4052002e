import type { PluginManager } from './utils/flexTypes';

/**
 * The plugin's settings: the Flex configuration's `custom_data.chat_transfer` (set with the Flex
 * Configuration API, `ui_attributes.custom_data`, as the Flex template keeps its feature settings),
 * else `FLEX_APP_*` variables given to `flex-plugin build` (the plugin builder inlines those).
 *
 * custom_data.chat_transfer:
 *   service_url           the service's public base URL (required; without it the plugin changes nothing)
 *   enabled               false turns the plugin off without removing it (default true)
 *   use_native_transfers  when Flex's native messaging transfers are on (`transfersConfig.enabled`),
 *                         true lets Flex transfer Flex Conversations chats itself (default false:
 *                         the plugin transfers every chat)
 *   poll_interval_ms      how often the people in a chat on screen are read (default 5000; every agent's
 *                         desktop counts against the service's BROWSER_RATE_LIMIT per client address)
 */
export interface Settings {
  readonly serviceUrl: string;
  readonly useNativeTransfers: boolean;
  readonly pollIntervalMs: number;
}

export interface BuildEnv {
  readonly FLEX_APP_CHAT_TRANSFER_SERVICE_URL?: string;
  readonly FLEX_APP_CHAT_TRANSFER_USE_NATIVE_TRANSFERS?: string;
}

interface ChatTransferCustomData {
  service_url?: unknown;
  enabled?: unknown;
  use_native_transfers?: unknown;
  poll_interval_ms?: unknown;
}

const DEFAULT_POLL_INTERVAL_MS = 5000;

function customData(manager: PluginManager): ChatTransferCustomData {
  // Flex merges the hosted configuration's ui_attributes into manager.configuration; read the
  // hosted copy too, for a Flex that has not merged custom_data.
  const fromConfiguration = (manager.configuration as { custom_data?: { chat_transfer?: ChatTransferCustomData } })
    .custom_data?.chat_transfer;
  const fromService = (manager.serviceConfiguration.ui_attributes as
    | { custom_data?: { chat_transfer?: ChatTransferCustomData } }
    | undefined)?.custom_data?.chat_transfer;
  return fromConfiguration ?? fromService ?? {};
}

function httpUrl(value: unknown): string | null {
  if (typeof value !== 'string' || !value.trim()) return null;
  try {
    const url = new URL(value.trim());
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return null;
    return url.toString().replace(/\/+$/, '');
  } catch {
    return null;
  }
}

function flag(value: unknown): boolean | null {
  if (typeof value === 'boolean') return value;
  if (value === 'true') return true;
  if (value === 'false') return false;
  return null;
}

/** The settings, or the reason the plugin stays off (then Flex keeps its own behaviour). */
export function readSettings(manager: PluginManager, env: BuildEnv): Settings | { disabled: string } {
  const data = customData(manager);
  if (flag(data.enabled) === false) return { disabled: 'custom_data.chat_transfer.enabled is false' };
  const serviceUrl = httpUrl(data.service_url) ?? httpUrl(env.FLEX_APP_CHAT_TRANSFER_SERVICE_URL);
  if (!serviceUrl) {
    return {
      disabled:
        'no service URL: set custom_data.chat_transfer.service_url in the Flex configuration ' +
        '(or FLEX_APP_CHAT_TRANSFER_SERVICE_URL when building)',
    };
  }
  const interval = Number(data.poll_interval_ms);
  return {
    serviceUrl,
    useNativeTransfers:
      flag(data.use_native_transfers) ?? flag(env.FLEX_APP_CHAT_TRANSFER_USE_NATIVE_TRANSFERS) ?? false,
    pollIntervalMs: Number.isFinite(interval) && interval >= 250 ? interval : DEFAULT_POLL_INTERVAL_MS,
  };
}

/** Flex's native messaging transfers, when the account turned them on (Flex UI 2.13+). */
export function nativeTransfersEnabled(manager: PluginManager): boolean {
  return manager.store.getState().flex.featureFlags.transfersConfig?.enabled === true;
}
