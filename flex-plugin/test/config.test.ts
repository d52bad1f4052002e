import { nativeTransfersEnabled, readSettings } from '../src/config';
import { agentLocale } from '../src/utils/locale';
import { fakeManager } from './fakes';

describe('settings', () => {
  it('come from custom_data.chat_transfer', () => {
    const manager = fakeManager({
      customData: {
        chat_transfer: { service_url: 'https://ct.example.com/', use_native_transfers: true, poll_interval_ms: 500 },
      },
    });
    expect(readSettings(manager, { FLEX_APP_CHAT_TRANSFER_SERVICE_URL: 'https://build.example.com' })).toEqual({
      serviceUrl: 'https://ct.example.com',
      useNativeTransfers: true,
      pollIntervalMs: 500,
    });
  });

  it('fall back to the hosted ui_attributes, then to FLEX_APP_* from the build', () => {
    const hosted = {
      ...fakeManager(),
      serviceConfiguration: { ui_attributes: { custom_data: { chat_transfer: { service_url: 'https://hosted.example.com' } } } },
    };
    expect(readSettings(hosted, {})).toMatchObject({ serviceUrl: 'https://hosted.example.com', useNativeTransfers: false });
    expect(
      readSettings(fakeManager(), {
        FLEX_APP_CHAT_TRANSFER_SERVICE_URL: 'http://localhost:8000',
        FLEX_APP_CHAT_TRANSFER_USE_NATIVE_TRANSFERS: 'true',
      }),
    ).toEqual({ serviceUrl: 'http://localhost:8000', useNativeTransfers: true, pollIntervalMs: 5000 });
  });

  it('leave the plugin off without a usable URL, or when it is turned off', () => {
    expect(readSettings(fakeManager(), {})).toHaveProperty('disabled');
    expect(readSettings(fakeManager({ customData: { chat_transfer: { service_url: 'ftp://x' } } }), {})).toHaveProperty('disabled');
    expect(
      readSettings(fakeManager({ customData: { chat_transfer: { service_url: 'https://ct.example.com', enabled: false } } }), {}),
    ).toHaveProperty('disabled');
  });

  it('ignore a poll interval that would hammer the service', () => {
    const manager = fakeManager({ customData: { chat_transfer: { service_url: 'https://x.example', poll_interval_ms: 10 } } });
    expect(readSettings(manager, {})).toMatchObject({ pollIntervalMs: 5000 });
  });

  it("read Flex's native messaging transfers from transfersConfig", () => {
    expect(nativeTransfersEnabled(fakeManager({ transfersConfigEnabled: true }))).toBe(true);
    expect(nativeTransfersEnabled(fakeManager())).toBe(false);
  });
});

describe("the agent's language", () => {
  it("is Flex's locale, else the worker's language attribute, else the browser's", () => {
    expect(agentLocale(fakeManager({ localeTag: 'pt-BR', workerLanguage: 'th' }), 'es-MX')).toBe('pt-BR');
    expect(agentLocale(fakeManager({ workerLanguage: 'th' }), 'es-MX')).toBe('th');
    expect(agentLocale(fakeManager(), 'es-MX')).toBe('es-MX');
    expect(agentLocale(fakeManager())).toBe('en-US');
  });
});
