import React from 'react';

import { ChatPeoplePanel } from '../../custom-components/ChatPeoplePanel/ChatPeoplePanel';
import { isChatTask } from '../../utils/chatTasks';
import type { ChatViews } from '../../utils/ChatViews';
import type { PluginFlex } from '../../utils/flexTypes';
import type { Strings } from '../../utils/strings';

/** A "People" tab on a chat task: the agents in the chat and the transfers being set up. */
export function registerTaskCanvasTabs(flex: PluginFlex, deps: { views: ChatViews; strings: Strings }): void {
  const People = flex.withTaskContext(ChatPeoplePanel);
  flex.TaskCanvasTabs.Content.add(
    <flex.Tab key="chat-transfer-people" uniqueName="ChatTransferPeople" label={deps.strings.peopleTab}>
      <People views={deps.views} strings={deps.strings} />
    </flex.Tab>,
    { if: ({ task }) => isChatTask(flex, task) },
  );
}
