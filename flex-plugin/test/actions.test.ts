import { registerTransferTask, transferMode } from '../src/flex-hooks/actions/TransferTask';
import { nativeWrapup, registerWrapupGuards } from '../src/flex-hooks/actions/WrapupTask';
import { NotificationId } from '../src/flex-hooks/notifications/ChatTransferNotifications';
import { PendingTransfers } from '../src/utils/PendingTransfers';
import type { TransferRequest } from '../src/utils/ServiceClient';
import { taskOf } from '../src/utils/chatTasks';
import { chatTask, OTHER_WORKER, QUEUE, voiceTask } from './fakes';
import { realFlex, standInFor } from './realFlex';

const cbm = chatTask();
const legacy = chatTask({ cbm: false, sid: 'WR-legacy', taskSid: 'WT-legacy' });
const voice = voiceTask();
const { flex, reset } = realFlex([cbm, legacy, voice]);
const nativeTransfers = standInFor('TransferTask');
const nativeWrapups = standInFor('WrapupTask');
const nativeCompletes = standInFor('CompleteTask');

afterEach(() => {
  reset();
  nativeTransfers.length = 0;
  nativeWrapups.length = 0;
  nativeCompletes.length = 0;
});

describe('beforeTransferTask', () => {
  function setUp(nativeTransfersWin = false) {
    const requested: TransferRequest[] = [];
    registerTransferTask(flex, {
      transfers: { transfer: async (request) => (requested.push(request), 'created') },
      nativeTransfersWin: (task) => nativeTransfersWin && flex.TaskHelper.isCBMTask(task),
    });
    return requested;
  }

  it('sends a chat’s transfer to the service instead of Flex', async () => {
    const requested = setUp();
    await expect(
      flex.Actions.invokeAction('TransferTask', { task: cbm, targetSid: OTHER_WORKER, options: { mode: 'COLD' } }),
    ).rejects.toThrow('cancelled by before event');
    expect(requested).toEqual([{ taskSid: cbm.taskSid, targetSid: OTHER_WORKER, mode: 'COLD' }]);
    expect(nativeTransfers).toEqual([]);
  });

  it('sends an older (non-Conversations) chat’s transfer too', async () => {
    const requested = setUp();
    await expect(flex.Actions.invokeAction('TransferTask', { task: legacy, targetSid: QUEUE, options: { mode: 'WARM' } })).rejects.toThrow();
    expect(requested).toEqual([{ taskSid: legacy.taskSid, targetSid: QUEUE, mode: 'WARM' }]);
  });

  it('leaves a call to Flex', async () => {
    const requested = setUp();
    await flex.Actions.invokeAction('TransferTask', { task: voice, targetSid: OTHER_WORKER, options: { mode: 'COLD' } });
    expect(requested).toEqual([]);
    expect(nativeTransfers).toHaveLength(1);
  });

  it('leaves Flex Conversations chats to Flex when its native transfers win, older chats not', async () => {
    const requested = setUp(true);
    await flex.Actions.invokeAction('TransferTask', { task: cbm, targetSid: OTHER_WORKER });
    expect(nativeTransfers).toHaveLength(1);
    await expect(flex.Actions.invokeAction('TransferTask', { task: legacy, targetSid: QUEUE })).rejects.toThrow();
    expect(requested.map((r) => r.taskSid)).toEqual([legacy.taskSid]);
  });

  it.each([
    [undefined, 'WARM'],
    [{}, 'WARM'],
    [{ mode: 'WARM' }, 'WARM'],
    [{ mode: 'COLD' }, 'COLD'],
    [{ mode: 'cold' }, 'COLD'],
  ])('takes the mode from the directory’s button (%p → %p; TaskRouter’s default is WARM)', (options, mode) => {
    expect(transferMode(options)).toBe(mode);
  });
});

describe('beforeWrapupTask and beforeCompleteTask', () => {
  function setUp() {
    const pending = new PendingTransfers();
    const left: string[] = [];
    const notifications: NotificationId[] = [];
    registerWrapupGuards(flex, {
      pending,
      leaver: { leave: async (task) => (left.push(task.taskSid), 'leaving') },
      notify: (id) => notifications.push(id),
    });
    return { pending, left, notifications };
  }

  it('block finishing a chat while the agent’s transfer of it is being set up', async () => {
    const { pending, left, notifications } = setUp();
    pending.start({ taskSid: cbm.taskSid, targetSid: QUEUE, mode: 'COLD' });
    await expect(flex.Actions.invokeAction('WrapupTask', { task: cbm })).rejects.toThrow('cancelled by before event');
    await expect(flex.Actions.invokeAction('CompleteTask', { task: cbm })).rejects.toThrow('cancelled by before event');
    expect([nativeWrapups, nativeCompletes, left]).toEqual([[], [], []]);
    expect(notifications).toEqual([NotificationId.TransferPendingBlocksWrapup, NotificationId.TransferPendingBlocksWrapup]);

    pending.finish(cbm.taskSid);
    const wrapping = { ...cbm, taskStatus: 'wrapping' };
    await flex.Actions.invokeAction('CompleteTask', { task: wrapping });
    expect(nativeCompletes).toEqual([expect.objectContaining({ task: wrapping })]);
  });

  it('turn ending a chat the agent is in into Leave chat', async () => {
    const { left } = setUp();
    await expect(flex.Actions.invokeAction('WrapupTask', { task: cbm })).rejects.toThrow();
    await expect(flex.Actions.invokeAction('CompleteTask', { task: legacy })).rejects.toThrow();
    expect(left).toEqual([cbm.taskSid, legacy.taskSid]);
    expect(nativeWrapups).toEqual([]);
  });

  it('let a call, and a chat already wrapping, finish as usual', async () => {
    const { left } = setUp();
    await flex.Actions.invokeAction('WrapupTask', { task: voice });
    await flex.Actions.invokeAction('CompleteTask', { task: { ...cbm, taskStatus: 'wrapping' } });
    expect(left).toEqual([]);
    expect(nativeWrapups).toHaveLength(1);
    expect(nativeCompletes).toHaveLength(1);
  });

  it('let the plugin’s own fallback to Flex’s wrap-up through', async () => {
    const { left } = setUp();
    await nativeWrapup(flex, cbm);
    expect(nativeWrapups).toEqual([expect.objectContaining({ task: cbm })]);
    expect(left).toEqual([]);
  });
});

describe('taskOf', () => {
  // Flex itself fills in `task` from `sid` before listeners run (the framework's payload update, which
  // needs a logged-in Flex); a payload with only a reservation sid is looked up the same way.
  it('takes the payload’s task, else looks it up by reservation sid', () => {
    expect(taskOf(flex, { task: cbm })).toBe(cbm);
    expect(taskOf(flex, { sid: legacy.sid })).toBe(legacy);
    expect(taskOf(flex, { sid: 'WR-unknown' })).toBeUndefined();
    expect(taskOf(flex, undefined)).toBeUndefined();
  });
});
