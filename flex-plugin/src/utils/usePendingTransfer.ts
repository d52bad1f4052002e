import { useEffect, useState } from 'react';

import type { PendingTransfers } from './PendingTransfers';

/** Whether the task has a transfer being set up, re-rendered as that changes. */
export function usePendingTransfer(pending: PendingTransfers, taskSid: string | undefined): boolean {
  const [isPending, setPending] = useState(() => (taskSid ? pending.has(taskSid) : false));
  useEffect(() => {
    if (!taskSid) return undefined;
    setPending(pending.has(taskSid));
    return pending.subscribe(() => setPending(pending.has(taskSid)));
  }, [pending, taskSid]);
  return isPending;
}
