/**
 * The real @twilio/flex-ui under jsdom: its Actions framework, Notifications and component content
 * stores load and work without a logged-in Flex; TaskHelper does not (it needs an initialised
 * Flex), so a small fake stands in for it.
 */
import * as Flex from '@twilio/flex-ui';

import type { PluginFlex, PluginTask } from '../src/utils/flexTypes';
import { fakeTaskHelper } from './fakes';

type Listener = (...args: any[]) => void;

/** The real Flex, with a fake TaskHelper, and every listener the test adds removed by `reset`. */
export function realFlex(tasks: PluginTask[] = []) {
  const added: Array<[string, Listener]> = [];
  const flex: PluginFlex = {
    ...(Flex as unknown as PluginFlex),
    TaskHelper: fakeTaskHelper(tasks),
    Actions: {
      addListener: (event: string | symbol, listener: Listener) => {
        added.push([String(event), listener]);
        return Flex.Actions.addListener(event, listener);
      },
      invokeAction: (name: string, payload?: unknown) => Flex.Actions.invokeAction(name, payload as never),
    } as PluginFlex['Actions'],
  };
  const reset = () => {
    for (const [event, listener] of added.splice(0)) Flex.Actions.removeListener(event, listener);
  };
  return { flex, reset, Actions: Flex.Actions };
}

/**
 * Stands in for a native action's body (TaskRouter calls a logged-in Flex would make), through the
 * framework's own `replaceAction`; returns the payloads it ran with.
 */
export function standInFor(name: string): unknown[] {
  const ran: unknown[] = [];
  Flex.Actions.replaceAction(name, async (payload: unknown) => {
    ran.push(payload);
  });
  return ran;
}
