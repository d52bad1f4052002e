import { Locale, pickLocale } from './strings';
import type { PluginManager } from './flexTypes';

/**
 * The agent's language: Flex's localization (`manager.localization.localeTag`, Flex UI 2.x), else
 * the worker's `language` attribute (the Flex template's convention), else the browser's.
 */
export function agentLocale(manager: PluginManager, browserLanguage?: string): Locale {
  const workerLanguage = manager.workerClient?.attributes.language;
  return pickLocale(
    manager.localization?.localeTag || (typeof workerLanguage === 'string' ? workerLanguage : '') || browserLanguage,
  );
}
