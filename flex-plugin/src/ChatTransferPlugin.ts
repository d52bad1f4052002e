import type * as Flex from '@twilio/flex-ui';
import { FlexPlugin } from '@twilio/flex-plugin';

import { registerChatTransfer } from './registerChatTransfer';

export default class ChatTransferPlugin extends FlexPlugin {
  constructor() {
    super('ChatTransferPlugin');
  }

  /** Run by Flex once, when it loads the plugin. */
  init(flex: typeof Flex, manager: Flex.Manager): void {
    registerChatTransfer(flex, manager, {
      FLEX_APP_CHAT_TRANSFER_SERVICE_URL: process.env.FLEX_APP_CHAT_TRANSFER_SERVICE_URL,
      FLEX_APP_CHAT_TRANSFER_USE_NATIVE_TRANSFERS: process.env.FLEX_APP_CHAT_TRANSFER_USE_NATIVE_TRANSFERS,
    });
  }
}
