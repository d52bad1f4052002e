import { useEffect, useState } from 'react';

import type { ChatView, ServiceClient } from './ServiceClient';

export type ChatViewState =
  | { readonly status: 'loading' }
  | { readonly status: 'ready'; readonly view: ChatView }
  | { readonly status: 'unavailable'; readonly httpStatus: number };

interface Watch {
  state: ChatViewState;
  readonly listeners: Set<(state: ChatViewState) => void>;
  timer?: ReturnType<typeof setTimeout>;
}

/**
 * `GET /chats/<CH>` for every chat on screen, read once per interval however many components show
 * it (the Leave button and the people tab), and only while one does.
 */
export class ChatViews {
  private readonly watches = new Map<string, Watch>();

  constructor(
    private readonly client: Pick<ServiceClient, 'chat'>,
    private readonly intervalMs: number,
  ) {}

  subscribe(conversationSid: string, listener: (state: ChatViewState) => void): () => void {
    let watch = this.watches.get(conversationSid);
    if (!watch) {
      watch = { state: { status: 'loading' }, listeners: new Set() };
      this.watches.set(conversationSid, watch);
      void this.read(conversationSid, watch);
    }
    watch.listeners.add(listener);
    listener(watch.state);
    const subscribed = watch;
    return () => {
      subscribed.listeners.delete(listener);
      if (subscribed.listeners.size === 0) {
        clearTimeout(subscribed.timer);
        this.watches.delete(conversationSid);
      }
    };
  }

  /** Read now (after the agent did something that changes the chat). */
  refresh(conversationSid: string): void {
    const watch = this.watches.get(conversationSid);
    if (!watch) return;
    clearTimeout(watch.timer);
    void this.read(conversationSid, watch);
  }

  private async read(conversationSid: string, watch: Watch): Promise<void> {
    let state: ChatViewState;
    try {
      state = { status: 'ready', view: await this.client.chat(conversationSid) };
    } catch (error) {
      state = { status: 'unavailable', httpStatus: (error as { status?: number }).status ?? 0 };
    }
    if (this.watches.get(conversationSid) !== watch) return; // nobody shows it any more
    watch.state = state;
    watch.listeners.forEach((listener) => listener(state));
    clearTimeout(watch.timer);
    watch.timer = setTimeout(() => void this.read(conversationSid, watch), this.intervalMs);
  }
}

export function useChatView(views: ChatViews, conversationSid: string | null): ChatViewState {
  const [state, setState] = useState<ChatViewState>({ status: 'loading' });
  useEffect(() => {
    if (!conversationSid) {
      setState({ status: 'unavailable', httpStatus: 0 });
      return undefined;
    }
    return views.subscribe(conversationSid, setState);
  }, [views, conversationSid]);
  return state;
}
