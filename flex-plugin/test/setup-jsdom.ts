// jsdom implements no media playback; @twilio/flex-ui's media manager plays a silent sound when it
// loads and awaits the promise, so a resolved one stands in for the browser's.
Object.defineProperty(window.HTMLMediaElement.prototype, 'play', {
  configurable: true,
  value: () => Promise.resolve(),
});
Object.defineProperty(window.HTMLMediaElement.prototype, 'pause', { configurable: true, value: () => undefined });
