import React from 'react';

import type { PluginFlex } from '../../utils/flexTypes';

export interface TransferButtonProps {
  readonly actions: PluginFlex['Actions'];
  readonly label: string;
}

const STYLE: React.CSSProperties = {
  background: '#fff',
  color: '#121c2d',
  border: '1px solid #8891aa',
  borderRadius: 4,
  padding: '0 16px',
  minHeight: 32,
  fontWeight: 600,
  fontSize: 14,
  cursor: 'pointer',
  marginRight: 8,
};

/**
 * Opens Flex's own directory (`ShowDirectory`), where the agent picks a worker or a queue, warm or
 * cold; Flex then invokes TransferTask, which this plugin sends to the service. Flex shows no
 * transfer button on a chat task unless its native messaging transfers are on (the Flex template
 * adds one the same way).
 */
export function TransferButton({ actions, label }: TransferButtonProps) {
  return (
    <button
      type="button"
      className="ChatTransfer-TransferButton"
      style={STYLE}
      onClick={() => {
        actions.invokeAction('ShowDirectory').catch(() => undefined);
      }}
    >
      {label}
    </button>
  );
}
