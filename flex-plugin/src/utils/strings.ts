/**
 * The plugin's one string table: notices (the same meaning as the service's own texts in
 * worker/domain/notices.py), the Leave/End label, the people tab and the Flex notifications,
 * in English and the locales the Flex template ships (es-ES, es-MX, pt-BR, th, zh-Hans).
 */

export const LOCALES = ['en-US', 'es-ES', 'es-MX', 'pt-BR', 'th', 'zh-Hans'] as const;
export type Locale = typeof LOCALES[number];

/** A text with a singular and a plural form, chosen by `count` (languages without plurals repeat one). */
interface Plural {
  one: string;
  other: string;
}

export interface Strings {
  notice: {
    joined: string;
    left: string;
    transferStartedWarm: string;
    transferStartedCold: string;
    transferFailed: string;
    chatEnded: string;
  };
  transferButton: string;
  endChat: string;
  leaveChat: string;
  leaveChatOthersHere: Plural;
  leaving: string;
  peopleTab: string;
  agentsHeading: string;
  you: string;
  nobodyHere: string;
  transfersHeading: string;
  transferBeingSetUp: string;
  requeueBeingSetUp: string;
  chatHasEnded: string;
  chatUnavailable: string;
  notification: {
    transferRequested: string;
    transferAlreadyPending: string;
    transferCreated: string;
    transferFailed: string;
    transferRefused: string;
    transferPendingBlocksWrapup: string;
    leaveFailed: string;
    serviceUnreachable: string;
  };
}

const EN: Strings = {
  notice: {
    joined: '{workerName} joined the chat',
    left: '{workerName} left the chat',
    transferStartedWarm: 'Warm transfer to {targetName} started',
    transferStartedCold: 'Transfer to {targetName} started',
    transferFailed: 'Transfer to {targetName} could not be completed',
    chatEnded: 'The chat has ended',
  },
  transferButton: 'Transfer',
  endChat: 'End chat',
  leaveChat: 'Leave chat',
  leaveChatOthersHere: { one: 'Leave chat — 1 other agent is here', other: 'Leave chat — {count} other agents are here' },
  leaving: 'Leaving…',
  peopleTab: 'People',
  agentsHeading: 'Agents in this chat',
  you: 'you',
  nobodyHere: 'No agent is in this chat',
  transfersHeading: 'Transfers being set up',
  transferBeingSetUp: 'Transfer',
  requeueBeingSetUp: 'Back to a queue',
  chatHasEnded: 'This chat has ended',
  chatUnavailable: 'Who is in this chat cannot be shown right now',
  notification: {
    transferRequested: 'Transferring the chat…',
    transferAlreadyPending: 'A transfer of this chat is already being set up',
    transferCreated: 'The chat was transferred',
    transferFailed: 'The transfer could not be completed: {reason}',
    transferRefused: 'The transfer was refused: {reason}',
    transferPendingBlocksWrapup: 'Wait until the transfer of this chat is set up before you finish it',
    leaveFailed: 'Could not leave the chat: {reason}',
    serviceUnreachable: 'The chat transfer service could not be reached',
  },
};

const ES_ES: Strings = {
  notice: {
    joined: '{workerName} se ha unido al chat',
    left: '{workerName} ha salido del chat',
    transferStartedWarm: 'Transferencia asistida a {targetName} iniciada',
    transferStartedCold: 'Transferencia a {targetName} iniciada',
    transferFailed: 'No se ha podido completar la transferencia a {targetName}',
    chatEnded: 'El chat ha finalizado',
  },
  transferButton: 'Transferir',
  endChat: 'Finalizar chat',
  leaveChat: 'Salir del chat',
  leaveChatOthersHere: {
    one: 'Salir del chat — hay 1 agente más',
    other: 'Salir del chat — hay {count} agentes más',
  },
  leaving: 'Saliendo…',
  peopleTab: 'Personas',
  agentsHeading: 'Agentes en este chat',
  you: 'tú',
  nobodyHere: 'No hay ningún agente en este chat',
  transfersHeading: 'Transferencias en preparación',
  transferBeingSetUp: 'Transferencia',
  requeueBeingSetUp: 'De vuelta a una cola',
  chatHasEnded: 'Este chat ha finalizado',
  chatUnavailable: 'Ahora no se puede mostrar quién está en este chat',
  notification: {
    transferRequested: 'Transfiriendo el chat…',
    transferAlreadyPending: 'Ya se está preparando una transferencia de este chat',
    transferCreated: 'Se ha transferido el chat',
    transferFailed: 'No se ha podido completar la transferencia: {reason}',
    transferRefused: 'Se ha rechazado la transferencia: {reason}',
    transferPendingBlocksWrapup: 'Espera a que la transferencia de este chat esté lista antes de terminarlo',
    leaveFailed: 'No se ha podido salir del chat: {reason}',
    serviceUnreachable: 'No se ha podido contactar con el servicio de transferencias',
  },
};

const ES_MX: Strings = {
  ...ES_ES,
  notice: {
    joined: '{workerName} se unió al chat',
    left: '{workerName} salió del chat',
    transferStartedWarm: 'Transferencia asistida a {targetName} iniciada',
    transferStartedCold: 'Transferencia a {targetName} iniciada',
    transferFailed: 'No se pudo completar la transferencia a {targetName}',
    chatEnded: 'El chat terminó',
  },
  endChat: 'Terminar chat',
  nobodyHere: 'No hay ningún agente en este chat',
  chatHasEnded: 'Este chat terminó',
  chatUnavailable: 'Por ahora no se puede mostrar quién está en este chat',
  notification: {
    transferRequested: 'Transfiriendo el chat…',
    transferAlreadyPending: 'Ya se está preparando una transferencia de este chat',
    transferCreated: 'Se transfirió el chat',
    transferFailed: 'No se pudo completar la transferencia: {reason}',
    transferRefused: 'Se rechazó la transferencia: {reason}',
    transferPendingBlocksWrapup: 'Espera a que la transferencia de este chat esté lista antes de terminarlo',
    leaveFailed: 'No se pudo salir del chat: {reason}',
    serviceUnreachable: 'No se pudo contactar al servicio de transferencias',
  },
};

const PT_BR: Strings = {
  notice: {
    joined: '{workerName} entrou no chat',
    left: '{workerName} saiu do chat',
    transferStartedWarm: 'Transferência assistida para {targetName} iniciada',
    transferStartedCold: 'Transferência para {targetName} iniciada',
    transferFailed: 'Não foi possível concluir a transferência para {targetName}',
    chatEnded: 'O chat foi encerrado',
  },
  transferButton: 'Transferir',
  endChat: 'Encerrar chat',
  leaveChat: 'Sair do chat',
  leaveChatOthersHere: {
    one: 'Sair do chat — há mais 1 agente aqui',
    other: 'Sair do chat — há mais {count} agentes aqui',
  },
  leaving: 'Saindo…',
  peopleTab: 'Pessoas',
  agentsHeading: 'Agentes neste chat',
  you: 'você',
  nobodyHere: 'Nenhum agente está neste chat',
  transfersHeading: 'Transferências em preparação',
  transferBeingSetUp: 'Transferência',
  requeueBeingSetUp: 'De volta para uma fila',
  chatHasEnded: 'Este chat foi encerrado',
  chatUnavailable: 'Não é possível mostrar agora quem está neste chat',
  notification: {
    transferRequested: 'Transferindo o chat…',
    transferAlreadyPending: 'Uma transferência deste chat já está em preparação',
    transferCreated: 'O chat foi transferido',
    transferFailed: 'Não foi possível concluir a transferência: {reason}',
    transferRefused: 'A transferência foi recusada: {reason}',
    transferPendingBlocksWrapup: 'Aguarde a transferência deste chat ficar pronta antes de finalizá-lo',
    leaveFailed: 'Não foi possível sair do chat: {reason}',
    serviceUnreachable: 'Não foi possível contatar o serviço de transferências',
  },
};

const TH: Strings = {
  notice: {
    joined: '{workerName} เข้าร่วมแชทแล้ว',
    left: '{workerName} ออกจากแชทแล้ว',
    transferStartedWarm: 'เริ่มการโอนแบบมีผู้ดูแลไปยัง {targetName} แล้ว',
    transferStartedCold: 'เริ่มการโอนไปยัง {targetName} แล้ว',
    transferFailed: 'ไม่สามารถโอนไปยัง {targetName} ได้',
    chatEnded: 'แชทสิ้นสุดแล้ว',
  },
  transferButton: 'โอน',
  endChat: 'จบแชท',
  leaveChat: 'ออกจากแชท',
  leaveChatOthersHere: {
    one: 'ออกจากแชท — มีเจ้าหน้าที่อีก 1 คนอยู่ที่นี่',
    other: 'ออกจากแชท — มีเจ้าหน้าที่อีก {count} คนอยู่ที่นี่',
  },
  leaving: 'กำลังออก…',
  peopleTab: 'ผู้คน',
  agentsHeading: 'เจ้าหน้าที่ในแชทนี้',
  you: 'คุณ',
  nobodyHere: 'ไม่มีเจ้าหน้าที่ในแชทนี้',
  transfersHeading: 'การโอนที่กำลังตั้งค่า',
  transferBeingSetUp: 'การโอน',
  requeueBeingSetUp: 'กลับเข้าคิว',
  chatHasEnded: 'แชทนี้สิ้นสุดแล้ว',
  chatUnavailable: 'ไม่สามารถแสดงผู้ที่อยู่ในแชทนี้ได้ในขณะนี้',
  notification: {
    transferRequested: 'กำลังโอนแชท…',
    transferAlreadyPending: 'กำลังตั้งค่าการโอนแชทนี้อยู่แล้ว',
    transferCreated: 'โอนแชทแล้ว',
    transferFailed: 'ไม่สามารถโอนได้: {reason}',
    transferRefused: 'การโอนถูกปฏิเสธ: {reason}',
    transferPendingBlocksWrapup: 'โปรดรอให้การโอนแชทนี้ตั้งค่าเสร็จก่อนจบงาน',
    leaveFailed: 'ไม่สามารถออกจากแชทได้: {reason}',
    serviceUnreachable: 'ไม่สามารถติดต่อบริการโอนแชทได้',
  },
};

const ZH_HANS: Strings = {
  notice: {
    joined: '{workerName} 加入了聊天',
    left: '{workerName} 离开了聊天',
    transferStartedWarm: '已开始热转接给 {targetName}',
    transferStartedCold: '已开始转接给 {targetName}',
    transferFailed: '转接给 {targetName} 未能完成',
    chatEnded: '聊天已结束',
  },
  transferButton: '转接',
  endChat: '结束聊天',
  leaveChat: '离开聊天',
  leaveChatOthersHere: { one: '离开聊天 — 还有 1 位客服在此', other: '离开聊天 — 还有 {count} 位客服在此' },
  leaving: '正在离开…',
  peopleTab: '成员',
  agentsHeading: '此聊天中的客服',
  you: '你',
  nobodyHere: '此聊天中没有客服',
  transfersHeading: '正在设置的转接',
  transferBeingSetUp: '转接',
  requeueBeingSetUp: '重新排队',
  chatHasEnded: '此聊天已结束',
  chatUnavailable: '暂时无法显示此聊天中的成员',
  notification: {
    transferRequested: '正在转接聊天…',
    transferAlreadyPending: '此聊天的转接已在设置中',
    transferCreated: '聊天已转接',
    transferFailed: '转接未能完成：{reason}',
    transferRefused: '转接被拒绝：{reason}',
    transferPendingBlocksWrapup: '请等此聊天的转接设置完成后再结束',
    leaveFailed: '无法离开聊天：{reason}',
    serviceUnreachable: '无法连接聊天转接服务',
  },
};

export const STRINGS: Record<Locale, Strings> = {
  'en-US': EN,
  'es-ES': ES_ES,
  'es-MX': ES_MX,
  'pt-BR': PT_BR,
  th: TH,
  'zh-Hans': ZH_HANS,
};

const BY_LANGUAGE: Record<string, Locale> = { en: 'en-US', es: 'es-ES', pt: 'pt-BR', th: 'th', zh: 'zh-Hans' };
const TRADITIONAL_CHINESE_REGIONS = ['zh-tw', 'zh-hk', 'zh-mo'];

/** The locale for a language tag, as the service picks one (worker/domain/notices.py `pick_locale`). */
export function pickLocale(requested: string | null | undefined): Locale {
  if (!requested || !requested.trim()) return 'en-US';
  const tag = requested.trim().replace(/_/g, '-').toLowerCase();
  const exact = LOCALES.find((locale) => locale.toLowerCase() === tag);
  if (exact) return exact;
  // No traditional Chinese texts: English rather than the wrong script.
  if (tag.startsWith('zh-hant') || TRADITIONAL_CHINESE_REGIONS.includes(tag)) return 'en-US';
  return BY_LANGUAGE[tag.split('-')[0]] ?? 'en-US';
}

export function stringsFor(locale: Locale): Strings {
  return STRINGS[locale];
}

/** `{name}` placeholders filled from `params`; a missing one becomes empty, as in the service. */
export function format(template: string, params: Record<string, string | number | null | undefined> = {}): string {
  return template.replace(/\{(\w+)\}/g, (_match, name: string) => {
    const value = params[name];
    return value === undefined || value === null ? '' : String(value);
  });
}

export function plural(text: Plural, count: number): string {
  return format(count === 1 ? text.one : text.other, { count });
}
