/*
 * A stand-in for the Flex UI 2.x runtime that a built plugin bundle runs in, for the browser test
 * (tests/e2e/test_flex_plugin.py). Minimal, but it behaves as Flex does where the plugin relies on it:
 *
 * - the globals `flex-plugin build` leaves outside the bundle: React, ReactDOM (loaded before this
 *   file) and Twilio.Flex (this file), read by the bundle's flex-shim when it loads;
 * - Twilio.Flex.Plugins.init(PluginClass): `new PluginClass().init(Flex, manager)`, as
 *   @twilio/flex-plugin's loadPlugin expects;
 * - Actions ("Use UI Actions"): before-listeners may abort (the action then rejects with "Action X
 *   cancelled by before event"), replaceAction, after-listeners; Flex fills `task` from a payload's
 *   reservation `sid` before listeners run;
 * - Notifications: registerNotification (a second registration of an id throws, as Flex's does),
 *   showNotification renders React content with `notificationContext`;
 * - TaskHelper.isCBMTask / isChatBasedTask as Flex's BaseTaskHelper decides them;
 * - Content stores (TaskCanvasHeader, TaskCanvasTabs, MessageListItem): add / replace / remove with
 *   `if` and `sortOrder`, children cloned with the parent's props; Tab; TaskContext and
 *   withTaskContext.
 *
 * What Flex learns from Twilio's SDKs (the chat's messages, the task's status) the page reads from
 * the test's server, which reads the sandbox: /api/messages/<CH>, /api/task/<WT>.
 */
(function () {
  'use strict';

  var h = React.createElement;
  var config = window.HARNESS_CONFIG;
  var state = { task: config.task, messages: [], directoryOpen: false, tab: 'chat', notifications: [] };
  var actionLog = [];
  var rerender = function () {};

  // ---------------------------------------------------------------- Actions framework
  var actions = new Map();
  var replaced = new Map();
  var listeners = new Map();

  function withTask(payload) {
    var filled = Object.assign({}, payload);
    if (!filled.task && filled.sid) filled.task = TaskHelper.getTaskByTaskSid(filled.sid);
    if (filled.task && !filled.sid) filled.sid = filled.task.sid;
    return filled;
  }

  var Actions = {
    registerAction: function (name, action) {
      actions.set(name, action);
    },
    replaceAction: function (name, action) {
      replaced.set(name, action);
    },
    addListener: function (event, listener) {
      if (!listeners.has(event)) listeners.set(event, []);
      listeners.get(event).push(listener);
      return Actions;
    },
    removeListener: function (event, listener) {
      var list = listeners.get(event) || [];
      listeners.set(event, list.filter(function (l) { return l !== listener; }));
      return Actions;
    },
    invokeAction: async function (name, payload) {
      var action = actions.get(name);
      if (!action) throw new Error('Action ' + name + ' does not exist!');
      var filled = withTask(payload || {});
      var aborted = false;
      var abort = function () { aborted = true; };
      await Promise.all((listeners.get('before' + name) || []).map(function (l) { return l(filled, abort); }));
      actionLog.push({ name: name, aborted: aborted, taskSid: filled.task ? filled.task.taskSid : null });
      if (aborted) throw new Error('Action ' + name + ' cancelled by before event');
      var replacement = replaced.get(name);
      var result = replacement ? await replacement(filled, action) : await action(filled);
      await Promise.all((listeners.get('after' + name) || []).map(function (l) { return l(filled); }));
      return result;
    },
  };

  // Flex's own bodies for the actions the page offers: what a logged-in Flex would do is recorded.
  var nativeRuns = [];
  ['TransferTask', 'WrapupTask', 'CompleteTask'].forEach(function (name) {
    Actions.registerAction(name, async function (payload) {
      nativeRuns.push({ name: name, taskSid: payload.task && payload.task.taskSid });
    });
  });
  Actions.registerAction('ShowDirectory', async function () {
    state.directoryOpen = true;
    rerender();
  });
  Actions.registerAction('HideDirectory', async function () {
    state.directoryOpen = false;
    rerender();
  });

  // ---------------------------------------------------------------- Notifications
  var NotificationType = { information: 'information', success: 'success', warning: 'warning', error: 'error' };
  var shown = 0;
  var Notifications = {
    registeredNotifications: new Map(),
    registerNotification: function (notification) {
      if (Notifications.registeredNotifications.has(notification.id)) throw new Error('Notification already registered');
      Notifications.registeredNotifications.set(notification.id, notification);
    },
    showNotification: function (id, context) {
      var registered = Notifications.registeredNotifications.get(id);
      if (!registered) return null;
      var instance = Object.assign({}, registered, { context: context, instanceId: id + ++shown });
      state.notifications = state.notifications.concat([instance]);
      rerender();
      if (registered.timeout) setTimeout(function () { Notifications.dismissNotification(instance); }, registered.timeout);
      return instance;
    },
    dismissNotification: function (instance) {
      state.notifications = state.notifications.filter(function (n) { return n !== instance; });
      rerender();
    },
    dismissNotificationById: function (id) {
      state.notifications = state.notifications.filter(function (n) { return n.id !== id; });
      rerender();
    },
    isNotificationActive: function (id) {
      return state.notifications.some(function (n) { return n.id === id; });
    },
  };

  // ---------------------------------------------------------------- TaskHelper (BaseTaskHelper's rules)
  var TaskHelper = {
    isCBMTask: function (task) { return Boolean(task && task.attributes && task.attributes.flexInteractionChannelSid); },
    isChatBasedTask: function (task) {
      return Boolean(task && task.attributes && (task.attributes.channelSid || task.attributes.conversationSid));
    },
    getTaskByTaskSid: function (reservationSid) { return state.task.sid === reservationSid ? state.task : undefined; },
  };

  // ---------------------------------------------------------------- Content stores, Tab, TaskContext
  function ContentStore() {
    this.added = [];
    this.replacements = [];
    this.removals = [];
  }
  ContentStore.prototype.add = function (element, options) {
    this.added.push({ element: element, options: options || {} });
    return function () {};
  };
  ContentStore.prototype.replace = function (element, options) {
    this.replacements.push({ element: element, options: options || {} });
    return function () {};
  };
  ContentStore.prototype.remove = function (key, options) {
    this.removals.push({ key: key, options: options || {} });
    return function () {};
  };
  /** The children to render for `props`: Flex's defaults, less removals, plus additions, by sortOrder. */
  ContentStore.prototype.children = function (props, defaults) {
    var applies = function (entry) { return !entry.options.if || entry.options.if(props); };
    var replacement = this.replacements.filter(applies)[0];
    if (replacement) return [React.cloneElement(replacement.element, props)];
    var removals = this.removals.filter(applies);
    var kept = defaults
      .map(function (element, index) { return { element: element, order: index }; })
      .filter(function (entry) { return !removals.some(function (r) { return r.key === entry.element.key; }); });
    var added = this.added.filter(applies).map(function (entry, index) {
      var order = entry.options.sortOrder === undefined ? 1000 + index : entry.options.sortOrder;
      return { element: entry.element, order: order };
    });
    return kept
      .concat(added)
      .sort(function (a, b) { return a.order - b.order; })
      .map(function (entry) { return React.cloneElement(entry.element, props); });
  };

  function Tab(props) {
    return h(React.Fragment, null, props.children);
  }
  var TaskContext = React.createContext({});
  function withTaskContext(Component) {
    return function WithTaskContext(props) {
      return h(TaskContext.Consumer, null, function (context) {
        return h(Component, Object.assign({}, context, props));
      });
    };
  }

  // ---------------------------------------------------------------- Manager
  var manager = {
    user: { token: config.token, identity: config.identity, roles: ['agent'] },
    store: {
      getState: function () {
        return { flex: { featureFlags: { transfersConfig: { enabled: Boolean(config.nativeTransfers) } } } };
      },
    },
    configuration: { custom_data: config.customData },
    serviceConfiguration: { ui_attributes: { custom_data: config.customData } },
    workerClient: { sid: config.worker.sid, attributes: config.worker.attributes },
    localization: { localeTag: config.locale },
  };

  var plugins = [];
  var Flex = {
    VERSION: '2.17.1',
    Actions: Actions,
    Notifications: Notifications,
    NotificationType: NotificationType,
    TaskHelper: TaskHelper,
    TaskCanvasHeader: { Content: new ContentStore() },
    TaskCanvasTabs: { Content: new ContentStore() },
    MessageListItem: { Content: new ContentStore() },
    Tab: Tab,
    TaskContext: TaskContext,
    withTaskContext: withTaskContext,
    Manager: { getInstance: function () { return manager; } },
    Plugins: {
      init: function (PluginClass) {
        var plugin = new PluginClass();
        plugin.init(Flex, manager);
        plugins.push(plugin.name);
        rerender();
      },
    },
  };
  window.Twilio = Object.assign(window.Twilio || {}, { Flex: Flex });
  window.harness = {
    config: config,
    state: state,
    actionLog: actionLog,
    nativeRuns: nativeRuns,
    plugins: plugins,
    setToken: function (token) { manager.user.token = token; },
  };

  // ---------------------------------------------------------------- the agent desktop
  function NotificationBar() {
    return h(
      'div',
      { className: 'notifications' },
      state.notifications.map(function (n) {
        var content = typeof n.content === 'string' ? n.content : React.cloneElement(n.content, { notificationContext: n.context });
        return h(
          'div',
          { key: n.instanceId, className: 'notification notification--' + n.type, 'data-notification-id': n.id },
          h('span', { className: 'notification__content' }, content),
          h('button', { className: 'notification__close', 'aria-label': 'close', onClick: function () { Notifications.dismissNotification(n); } }, '×'),
        );
      }),
    );
  }

  function NativeActions(props) {
    var task = props.task;
    if (task.taskStatus === 'assigned') {
      return h('button', { className: 'native-end', onClick: function () { Actions.invokeAction('WrapupTask', { task: task }).catch(function () {}); } }, 'End chat');
    }
    if (task.taskStatus === 'wrapping') {
      return h('button', { className: 'native-complete', onClick: function () { Actions.invokeAction('CompleteTask', { task: task }).catch(function () {}); } }, 'Complete');
    }
    return null;
  }

  function Bubble(props) {
    var source = props.message.source;
    return h(
      'div',
      { className: 'bubble-row ' + (props.message.isFromMe ? 'bubble-row--me' : 'bubble-row--them') },
      h('div', { className: 'bubble' }, h('div', { className: 'bubble__author' }, source.author), h('div', { className: 'bubble__body' }, source.body)),
    );
  }

  function MessageList(props) {
    return h(
      'ol',
      { className: 'messages' },
      state.messages.map(function (message) {
        var itemProps = { message: message, conversationSid: props.conversationSid, channelSid: props.conversationSid };
        return h(
          'li',
          { key: message.source.sid, className: 'message', 'data-index': message.index },
          Flex.MessageListItem.Content.children(itemProps, [h(Bubble, { key: 'bubble' })]),
        );
      }),
    );
  }

  function Directory() {
    var close = function () { Actions.invokeAction('HideDirectory').catch(function () {}); };
    var transfer = function (targetSid, mode) {
      return function () {
        // Flex's directory invokes TransferTask with TaskRouter's transfer options, then closes.
        Actions.invokeAction('TransferTask', { task: state.task, targetSid: targetSid, options: { mode: mode } }).catch(function () {});
        close();
      };
    };
    var entry = function (target) {
      return h(
        'li',
        { key: target.sid, className: 'directory__entry', 'data-target-sid': target.sid },
        h('span', { className: 'directory__name' }, target.name),
        h('button', { className: 'directory__warm', onClick: transfer(target.sid, 'WARM') }, 'Warm transfer'),
        h('button', { className: 'directory__cold', onClick: transfer(target.sid, 'COLD') }, 'Cold transfer'),
      );
    };
    return h(
      'aside',
      { className: 'directory', role: 'dialog', 'aria-label': 'Transfer' },
      h('header', null, 'Transfer', h('button', { className: 'directory__close', onClick: close }, '×')),
      h('h4', null, 'Agents'),
      h('ul', null, config.directory.workers.map(entry)),
      h('h4', null, 'Queues'),
      h('ul', null, config.directory.queues.map(entry)),
    );
  }

  function Desktop() {
    var task = state.task;
    var props = { task: task };
    var tabs = Flex.TaskCanvasTabs.Content.children(props, []);
    var selected = tabs.filter(function (tab) { return tab.props.uniqueName === state.tab; })[0];
    var tabButton = function (name, label) {
      return h('button', {
        key: name,
        role: 'tab',
        'aria-selected': state.tab === name,
        className: 'tab' + (state.tab === name ? ' tab--selected' : ''),
        'data-tab': name,
        onClick: function () { state.tab = name; rerender(); },
      }, label);
    };
    return h(
      TaskContext.Provider,
      { value: props },
      h(NotificationBar),
      h(
        'main',
        { className: 'task-canvas', 'data-task-status': task.taskStatus },
        h(
          'header',
          { className: 'task-canvas__header' },
          h('div', { className: 'task-canvas__title' }, h('strong', null, config.customer), h('span', null, 'Chat · ' + task.taskStatus)),
          h('div', { className: 'task-canvas__actions' }, Flex.TaskCanvasHeader.Content.children(props, [h(NativeActions, { key: 'actions' })])),
        ),
        h('nav', { className: 'tabs', role: 'tablist' }, [tabButton('chat', 'Chat')].concat(tabs.map(function (tab) { return tabButton(tab.props.uniqueName, tab.props.label); }))),
        h('section', { className: 'tab-panel' }, selected ? selected : h(MessageList, { conversationSid: task.attributes.conversationSid || task.attributes.channelSid })),
      ),
      state.directoryOpen ? h(Directory) : null,
    );
  }

  // ---------------------------------------------------------------- what the SDKs would tell Flex
  async function follow() {
    try {
      var conversationSid = state.task.attributes.conversationSid || state.task.attributes.channelSid;
      var answers = await Promise.all([
        fetch('/api/messages/' + conversationSid).then(function (r) { return r.json(); }),
        fetch('/api/task/' + state.task.taskSid).then(function (r) { return r.json(); }),
      ]);
      state.messages = answers[0].messages.map(function (m) {
        return { source: m, index: m.index, isFromMe: m.author === config.identity };
      });
      if (answers[1].status && answers[1].status !== state.task.taskStatus) {
        state.task = Object.assign({}, state.task, { taskStatus: answers[1].status });
      }
      document.body.dataset.messages = String(state.messages.length);
      rerender();
    } finally {
      setTimeout(follow, 300);
    }
  }

  document.addEventListener('DOMContentLoaded', function () {
    var root = document.getElementById('flex-root');
    rerender = function () { ReactDOM.render(h(Desktop), root); };
    rerender();
    follow();
    document.body.dataset.harness = 'ready';
  });
})();
