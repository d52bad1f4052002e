/** Small fakes of what Flex gives a plugin where the real one needs a running Flex (a logged-in session). */
import type { PluginManager, PluginTask, PluginTaskHelper } from '../src/utils/flexTypes';

export const sid = (prefix: string, n: number) => `${prefix}${n.toString(16).padStart(32, '0')}`;

export const WORKER = sid('WK', 1);
export const OTHER_WORKER = sid('WK', 2);
export const QUEUE = sid('WQ', 1);
export const CONVERSATION = sid('CH', 1);

export function chatTask(overrides: Partial<PluginTask> & { cbm?: boolean } = {}): PluginTask {
  const { cbm = true, ...rest } = overrides;
  return {
    sid: sid('WR', 1),
    taskSid: sid('WT', 1),
    taskStatus: 'assigned',
    taskChannelUniqueName: 'chat',
    workerSid: WORKER,
    attributes: cbm
      ? { conversationSid: CONVERSATION, flexInteractionSid: sid('KD', 1), flexInteractionChannelSid: sid('UO', 1) }
      : { channelSid: CONVERSATION },
    ...rest,
  };
}

export function voiceTask(): PluginTask {
  return { ...chatTask(), sid: sid('WR', 9), taskSid: sid('WT', 9), taskChannelUniqueName: 'voice', attributes: { call_sid: 'CA1' } };
}

/**
 * Flex's TaskHelper as it decides (BaseTaskHelper in @twilio/flex-ui 2.17: a CBM task carries
 * `flexInteractionChannelSid`; a chat-based task carries `channelSid` or `conversationSid`); the real
 * one needs an initialised Flex.
 */
export function fakeTaskHelper(tasks: PluginTask[] = []): PluginTaskHelper {
  return {
    isCBMTask: (task) => Boolean(task.attributes.flexInteractionChannelSid),
    isChatBasedTask: (task) => Boolean(task.attributes.channelSid || task.attributes.conversationSid),
    getTaskByTaskSid: (reservationSid) => tasks.find((task) => task.sid === reservationSid),
  };
}

export interface FakeManagerOptions {
  token?: string;
  customData?: Record<string, unknown>;
  transfersConfigEnabled?: boolean;
  localeTag?: string;
  workerLanguage?: string;
}

export function fakeManager(options: FakeManagerOptions = {}): PluginManager & { user: { token: string; identity: string } } {
  const user = { token: options.token ?? 'token-1', identity: 'alice' };
  return {
    user,
    store: { getState: () => ({ flex: { featureFlags: { transfersConfig: { enabled: options.transfersConfigEnabled ?? false } } } }) },
    configuration: options.customData ? { custom_data: options.customData } : {},
    serviceConfiguration: { ui_attributes: {} },
    workerClient: { sid: WORKER, attributes: options.workerLanguage ? { language: options.workerLanguage } : {} },
    localization: options.localeTag ? { localeTag: options.localeTag } : undefined,
  };
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
}

export interface FakeAnswer {
  status: number;
  body?: unknown;
}

type Route = (request: RecordedRequest) => FakeAnswer | Promise<FakeAnswer> | 'network-error';

/** A `fetch` that records what it was asked and answers from `route`, as the service would. */
export function fakeFetch(route: Route) {
  const requests: RecordedRequest[] = [];
  const fetchImpl = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const request: RecordedRequest = {
      method: init?.method ?? 'GET',
      url: String(input),
      headers: { ...(init?.headers as Record<string, string>) },
      body: typeof init?.body === 'string' ? JSON.parse(init.body) : undefined,
    };
    requests.push(request);
    const answer = await route(request);
    if (answer === 'network-error') throw new TypeError('Failed to fetch');
    return {
      status: answer.status,
      ok: answer.status >= 200 && answer.status < 300,
      json: async () => {
        if (answer.body === undefined) throw new SyntaxError('Unexpected end of JSON input');
        return answer.body;
      },
    } as Response;
  };
  return { fetch: fetchImpl as typeof fetch, requests };
}

export const noSleep = () => Promise.resolve();
