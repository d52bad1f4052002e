import type { PluginFlex, PluginTask } from './flexTypes';

/** Channels that are Flex Conversations (CBM) tasks but not chats this service transfers. */
const NOT_CHAT_CHANNELS = new Set(['voice', 'email']);

/**
 * A chat task: a Flex Conversations task (`TaskHelper.isCBMTask`: it carries
 * `flexInteractionChannelSid`) or an older chat task (`TaskHelper.isChatBasedTask`: `channelSid` or
 * `conversationSid` in its attributes), and not a call or an email.
 */
export function isChatTask(flex: PluginFlex, task: PluginTask | undefined): task is PluginTask {
  if (!task || NOT_CHAT_CHANNELS.has(task.taskChannelUniqueName)) return false;
  return flex.TaskHelper.isCBMTask(task) || flex.TaskHelper.isChatBasedTask(task);
}

/** The conversation (CH…) a chat task is about: `conversationSid`, else `channelSid` for older flows. */
export function conversationSidOf(task: PluginTask): string | null {
  for (const name of ['conversationSid', 'channelSid']) {
    const value = task.attributes[name];
    if (typeof value === 'string' && value.startsWith('CH')) return value;
  }
  return null;
}

/** An action payload names its task by object or by reservation sid (`TaskHelper.getTaskByTaskSid`). */
export function taskOf(flex: PluginFlex, payload: { task?: PluginTask; sid?: string } | undefined): PluginTask | undefined {
  if (payload?.task) return payload.task;
  return payload?.sid ? flex.TaskHelper.getTaskByTaskSid(payload.sid) : undefined;
}
