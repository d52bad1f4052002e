import type * as Flex from '@twilio/flex-ui';
import { FlexPlugin } from '@twilio/flex-plugin';

export default class ChatTransferPlugin extends FlexPlugin {
  constructor() {
    super('ChatTransferPlugin');
  }

  /** Run by Flex once, when it loads the plugin. */
  init(_flex: typeof Flex, _manager: Flex.Manager): void {}
}
