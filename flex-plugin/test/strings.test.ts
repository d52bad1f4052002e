import { noticeText } from '../src/utils/notices';
import { format, LOCALES, pickLocale, plural, STRINGS, Strings, stringsFor } from '../src/utils/strings';

function leaves(value: unknown, path = ''): Array<[string, string]> {
  if (typeof value === 'string') return [[path, value]];
  return Object.entries(value as Record<string, unknown>).flatMap(([key, inner]) => leaves(inner, `${path}.${key}`));
}

describe('the string table', () => {
  it('has every text in every locale, with the same placeholders as English', () => {
    const english = new Map(leaves(STRINGS['en-US']));
    for (const locale of LOCALES) {
      const texts = leaves(STRINGS[locale]);
      expect(texts.map(([path]) => path)).toEqual([...english.keys()]);
      for (const [path, text] of texts) {
        expect(text.trim()).not.toBe('');
        const placeholders = (s: string) => (s.match(/\{\w+\}/g) ?? []).sort();
        expect([locale, path, placeholders(text)]).toEqual([locale, path, placeholders(english.get(path)!)]);
      }
    }
  });

  it.each([
    [undefined, 'en-US'],
    ['', 'en-US'],
    ['es-MX', 'es-MX'],
    ['es-mx', 'es-MX'],
    ['es_MX', 'es-MX'],
    ['es-AR', 'es-ES'],
    ['es', 'es-ES'],
    ['pt-PT', 'pt-BR'],
    ['th-TH', 'th'],
    ['zh-CN', 'zh-Hans'],
    ['zh-Hans-CN', 'zh-Hans'],
    ['zh-Hant', 'en-US'],
    ['zh-TW', 'en-US'],
    ['fr-FR', 'en-US'],
  ])('picks %p as %p, as the service does', (tag, locale) => {
    expect(pickLocale(tag)).toBe(locale);
  });

  it('fills placeholders and leaves missing ones empty', () => {
    expect(format('{a} and {b}', { a: 'Ann' })).toBe('Ann and ');
    expect(plural(STRINGS['en-US'].leaveChatOthersHere, 1)).toBe('Leave chat — 1 other agent is here');
    expect(plural(STRINGS['en-US'].leaveChatOthersHere, 3)).toBe('Leave chat — 3 other agents are here');
  });
});

describe('notice texts', () => {
  const en: Strings = stringsFor('en-US');
  const notice = (notificationType: string, extra: Record<string, string> = {}) =>
    noticeText({ notification: true, notificationType, ...extra }, en);

  it('says what the service says, from the names in the attributes', () => {
    expect(notice('joined', { workerName: 'Alice' })).toBe('Alice joined the chat');
    expect(notice('left', { workerName: 'Bob' })).toBe('Bob left the chat');
    expect(notice('transfer-started', { targetName: 'Sales', transferType: 'WARM' })).toBe('Warm transfer to Sales started');
    expect(notice('transfer-started', { targetName: 'Sales', transferType: 'COLD' })).toBe('Transfer to Sales started');
    expect(notice('transfer-started', { targetName: 'Sales' })).toBe('Transfer to Sales started');
    expect(notice('transfer-failed', { targetName: 'Bob' })).toBe('Transfer to Bob could not be completed');
    expect(notice('chat-ended')).toBe('The chat has ended');
    expect(notice('something-new')).toBeNull();
  });

  it('in the agent language', () => {
    const joined = { notification: true as const, notificationType: 'joined', workerName: 'Ana' };
    expect(noticeText(joined, stringsFor('es-MX'))).toBe('Ana se unió al chat');
    expect(noticeText(joined, stringsFor('es-ES'))).toBe('Ana se ha unido al chat');
    expect(noticeText(joined, stringsFor('pt-BR'))).toBe('Ana entrou no chat');
    expect(noticeText(joined, stringsFor('th'))).toBe('Ana เข้าร่วมแชทแล้ว');
    expect(noticeText(joined, stringsFor('zh-Hans'))).toBe('Ana 加入了聊天');
  });
});
