import React from 'react';

import { messageAttributes, NoticeMessage } from '../../custom-components/NoticeMessage/NoticeMessage';
import type { PluginFlex } from '../../utils/flexTypes';
import { isNotice } from '../../utils/notices';
import type { Strings } from '../../utils/strings';

/**
 * Messages whose attributes carry `"notification": true` show as centred notices instead of chat
 * bubbles (the Flex template's chat-transfer feature replaces MessageListItem's content the same way).
 */
export function registerMessageListItem(flex: PluginFlex, deps: { strings: Strings }): void {
  flex.MessageListItem.Content.replace(<NoticeMessage key="chat-transfer-notice" strings={deps.strings} />, {
    if: (props) => isNotice(messageAttributes(props.message?.source)),
  });
}
