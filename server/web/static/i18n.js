// String table: Simplified Chinese by default, English switchable. t(key, params) fills {name} slots.
const zh = {
  app: "群管", tagline: "安全、合规的群聊", lang_switch: "English",
  login: "登录", register: "注册", username: "用户名", password: "密码", phone: "手机号",
  code: "短信验证码", get_code: "获取验证码", code_sent: "验证码已发送到 {phone}", display_name: "昵称（可选）",
  have_account: "已有账号？登录", no_account: "没有账号？注册", username_hint: "3–32 位字母、数字、_ . -，以字母开头",
  password_hint: "至少 8 位", registering: "正在注册…", logging_in: "正在登录…",
  connecting: "正在连接…", connected: "已连接", reconnecting: "连接中断，正在重连…", offline: "未连接",
  groups: "群聊", no_groups: "你还没有加入任何群。点击上方的 + 创建或加入一个群。", new_group: "创建或加入群",
  join_by_id: "通过群号加入", group_id: "群号", join: "加入", create_group: "创建群", group_name: "群名称",
  category: "类别", join_policy: "加群方式", policy_open: "任何人可加入", policy_approval: "需要群主或管理员批准",
  policy_invite: "仅限邀请", create: "创建", cancel: "取消", close: "关闭", save: "保存", ok: "确定",
  cat_family: "家庭", cat_friends: "朋友", cat_work: "工作", cat_study: "学习", cat_interest: "兴趣",
  cat_business: "商务", cat_public_affairs: "公共事务", cat_other: "其他",
  role_owner: "群主", role_admin: "管理员", role_member: "成员",
  send: "发送", composer_placeholder: "输入消息，Enter 发送，Shift+Enter 换行", pick_group: "从左侧选择一个群开始聊天",
  muted_until: "你已被禁言，{until} 解除", muted_all: "全员禁言中，只有群主和管理员可以发言",
  suspended_until: "本群已被平台暂停发言，{until} 恢复", load_earlier: "加载更早的消息", no_earlier: "没有更早的消息了",
  deleted_message: "此消息已被删除", sending: "发送中…", send_failed: "发送失败：{reason}", held: "消息已提交平台审核，通过后才会显示",
  announcement: "群公告", members: "成员", manage: "群管理", group_settings: "群设置", info: "群信息",
  member_count: "{n} 名成员", member_count_max: "{n} / {max} 名成员", created_at: "创建于 {date}", created: "创建日期",
  report: "举报", report_message: "举报消息", report_user: "举报用户", report_group: "举报此群", delete: "删除",
  report_reason: "举报原因", report_detail: "补充说明（可选）", report_sent: "举报已提交，平台处理后会通知你", report_dup: "你已举报过，平台正在处理",
  reasons: "违法违规|色情低俗|诈骗|骚扰辱骂|谣言|其他",
  kick: "移出群", mute: "禁言", unmute: "解除禁言", make_admin: "设为管理员", remove_admin: "取消管理员",
  transfer: "转让群主", mute_all: "全员禁言", mute_all_on: "开启全员禁言", mute_all_off: "关闭全员禁言",
  mute_10m: "10 分钟", mute_1h: "1 小时", mute_1d: "1 天", mute_7d: "7 天", mute_30d: "30 天",
  join_requests: "入群申请", no_requests: "没有待处理的申请", approve: "同意", reject: "拒绝", requested_at: "申请于 {time}",
  invite: "邀请", invite_user_id: "对方的用户 ID", invite_sent: "邀请已发送", announcement_edit: "编辑群公告", announcement_saved: "公告已更新",
  dissolve: "解散群", leave: "退出群", confirm_dissolve: "确定解散「{name}」？解散后无法恢复。", confirm_leave: "确定退出「{name}」？",
  confirm_kick: "确定把 {name} 移出群？", confirm_transfer: "确定把群主转让给 {name}？你将成为普通成员。",
  muted_tag: "禁言中", you: "（我）", saved: "已保存",
  profile: "我的账号", my_user_id: "我的用户 ID", credit_level: "信用等级", id_verified: "已实名认证", id_not_verified: "未实名认证",
  verify: "实名认证", legal_name: "真实姓名", id_number: "身份证号", verify_done: "实名认证成功", verify_hint: "创建群需要实名认证。姓名和证件号加密保存，任何人（包括你自己）都看不到。",
  logout: "退出登录", delete_account: "注销账号", delete_account_hint: "注销前请先转让或解散你创建的群。请输入密码确认。", account_deleted: "账号已注销",
  agreement: "平台规则与用户协议", agreement_version: "版本 {v}", accept: "我已阅读并同意", agreement_needed: "请先阅读并同意平台规则与用户协议",
  notices: "通知", no_notices: "暂无通知", join_now: "加入",
  n_warning: "平台警告（群「{group}」）：{text}", n_warning_deadline: "请在 {deadline} 前整改。",
  n_report_result_upheld: "你的举报已处理，成立：{text}", n_report_result_rejected: "你的举报已处理，未成立：{text}",
  n_sanction: "平台处罚：{text}", n_blacklisted: "你的账号已被平台封禁：{text}", n_agreement: "平台规则与用户协议已更新，请重新阅读并同意。",
  n_platform: "平台公告：{text}", n_content_removed: "你在群「{group}」的一条消息被平台移除：{text}",
  n_suspended: "群「{group}」已被平台暂停发言，{until} 恢复。{reason}", n_closed: "群「{group}」已被平台关闭：{reason}",
  n_dissolved: "群「{group}」已被群主解散。", n_removed: "你已被移出群「{group}」。", n_invited: "{by} 邀请你加入群「{group}」（群号 {id}）。",
  n_join_approved: "你加入群「{group}」的申请已通过。", n_join_rejected: "你加入群「{group}」的申请被拒绝。", n_join_pending: "申请已提交，等待群主或管理员批准。",
  n_joined: "已加入群「{group}」。", n_created: "群已创建，群号 {id}。把群号告诉朋友，他们就能加入。",
  sys_joined: "{name} 加入了群聊", sys_left: "{name} 退出了群聊", sys_removed: "{name} 被移出群聊", sys_role: "{name} 现在是{role}",
  sys_muted: "{name} 被禁言至 {until}", sys_unmuted: "{name} 被解除禁言", sys_mute_all_on: "已开启全员禁言", sys_mute_all_off: "已关闭全员禁言",
  sys_announcement: "群公告已更新", sys_updated: "群设置已更新", new_join_request: "{name} 申请加入群「{group}」",
  back: "返回", unknown_user: "用户",
  e_disconnected: "连接已断开，请稍后重试", e_bad_request: "输入有误：{reason}", e_unknown_op: "服务器不支持此操作",
  e_unauthenticated: "用户名或密码错误，或登录已过期", e_forbidden: "没有权限执行此操作", e_not_found: "找不到对象（群、用户或消息）",
  e_not_member: "你不是该群成员", e_conflict: "冲突：{reason}", e_bad_code: "验证码错误或已过期",
  e_verification_required: "需要先完成实名认证", e_member_cap_reached: "群成员已满", e_create_cap_reached: "你创建的群数量已达上限",
  e_join_cap_reached: "加入的群数量已达上限", e_admin_cap_reached: "管理员数量已达上限", e_credit_too_low: "信用等级不足",
  e_muted: "你已被禁言", e_group_suspended: "本群已被平台暂停发言", e_group_closed: "该群已被平台关闭",
  e_blacklisted: "账号已被平台封禁", e_content_blocked: "内容包含违规信息，未发送", e_rate_limited: "操作太频繁，请 {s} 秒后再试",
  e_too_large: "内容过长", e_internal: "服务器错误，请重试", e_generic: "操作失败：{reason}",
};
const en = {
  app: "Qunguan", tagline: "Safe, compliant group chat", lang_switch: "中文",
  login: "Log in", register: "Register", username: "Username", password: "Password", phone: "Phone number",
  code: "SMS code", get_code: "Get code", code_sent: "Code sent to {phone}", display_name: "Display name (optional)",
  have_account: "Have an account? Log in", no_account: "No account? Register", username_hint: "3–32 letters, digits, _ . -, starting with a letter",
  password_hint: "at least 8 characters", registering: "Registering…", logging_in: "Logging in…",
  connecting: "Connecting…", connected: "Connected", reconnecting: "Connection lost, reconnecting…", offline: "Offline",
  groups: "Groups", no_groups: "You are in no group yet. Press + above to create or join one.", new_group: "Create or join a group",
  join_by_id: "Join by group ID", group_id: "Group ID", join: "Join", create_group: "Create a group", group_name: "Group name",
  category: "Category", join_policy: "Who can join", policy_open: "Anyone", policy_approval: "Owner or admin approves",
  policy_invite: "Invitation only", create: "Create", cancel: "Cancel", close: "Close", save: "Save", ok: "OK",
  cat_family: "Family", cat_friends: "Friends", cat_work: "Work", cat_study: "Study", cat_interest: "Interest",
  cat_business: "Business", cat_public_affairs: "Public affairs", cat_other: "Other",
  role_owner: "Owner", role_admin: "Admin", role_member: "Member",
  send: "Send", composer_placeholder: "Message — Enter sends, Shift+Enter for a new line", pick_group: "Pick a group on the left to start chatting",
  muted_until: "You are muted until {until}", muted_all: "Everyone is muted; only the owner and admins can post",
  suspended_until: "The platform suspended posting here until {until}", load_earlier: "Load earlier messages", no_earlier: "No earlier messages",
  deleted_message: "This message was deleted", sending: "Sending…", send_failed: "Not sent: {reason}", held: "Your message is held for review and will appear once approved",
  announcement: "Announcement", members: "Members", manage: "Manage", group_settings: "Settings", info: "Group info",
  member_count: "{n} members", member_count_max: "{n} / {max} members", created_at: "Created {date}", created: "Created",
  report: "Report", report_message: "Report message", report_user: "Report user", report_group: "Report group", delete: "Delete",
  report_reason: "Reason", report_detail: "Details (optional)", report_sent: "Report sent; you will be told the outcome", report_dup: "You already reported this; it is being handled",
  reasons: "Illegal content|Pornography|Fraud|Harassment|Rumours|Other",
  kick: "Remove", mute: "Mute", unmute: "Unmute", make_admin: "Make admin", remove_admin: "Remove admin",
  transfer: "Transfer ownership", mute_all: "Mute everyone", mute_all_on: "Mute everyone", mute_all_off: "Unmute everyone",
  mute_10m: "10 minutes", mute_1h: "1 hour", mute_1d: "1 day", mute_7d: "7 days", mute_30d: "30 days",
  join_requests: "Join requests", no_requests: "No pending requests", approve: "Approve", reject: "Reject", requested_at: "asked {time}",
  invite: "Invite", invite_user_id: "Their user ID", invite_sent: "Invitation sent", announcement_edit: "Edit announcement", announcement_saved: "Announcement updated",
  dissolve: "Dissolve group", leave: "Leave group", confirm_dissolve: "Dissolve “{name}”? This cannot be undone.", confirm_leave: "Leave “{name}”?",
  confirm_kick: "Remove {name} from the group?", confirm_transfer: "Make {name} the owner? You will become a member.",
  muted_tag: "muted", you: " (me)", saved: "Saved",
  profile: "My account", my_user_id: "My user ID", credit_level: "Credit level", id_verified: "Identity verified", id_not_verified: "Identity not verified",
  verify: "Verify identity", legal_name: "Legal name", id_number: "ID card number", verify_done: "Identity verified", verify_hint: "Creating a group needs a verified identity. Your name and number are stored encrypted and shown to no one, not even you.",
  logout: "Log out", delete_account: "Delete account", delete_account_hint: "Transfer or dissolve the groups you own first. Enter your password to confirm.", account_deleted: "Account deleted",
  agreement: "Platform rules and user agreement", agreement_version: "Version {v}", accept: "I have read and accept", agreement_needed: "Please read and accept the platform rules and user agreement first",
  notices: "Notices", no_notices: "No notices", join_now: "Join",
  n_warning: "Platform warning (group “{group}”): {text}", n_warning_deadline: "Fix it by {deadline}.",
  n_report_result_upheld: "Your report was upheld: {text}", n_report_result_rejected: "Your report was rejected: {text}",
  n_sanction: "Platform sanction: {text}", n_blacklisted: "The platform closed your account: {text}", n_agreement: "The platform rules and user agreement changed; please read and accept them again.",
  n_platform: "Platform notice: {text}", n_content_removed: "The platform removed one of your messages in “{group}”: {text}",
  n_suspended: "The platform suspended posting in “{group}” until {until}. {reason}", n_closed: "The platform closed “{group}”: {reason}",
  n_dissolved: "“{group}” was dissolved by its owner.", n_removed: "You were removed from “{group}”.", n_invited: "{by} invited you to “{group}” (ID {id}).",
  n_join_approved: "Your request to join “{group}” was approved.", n_join_rejected: "Your request to join “{group}” was rejected.", n_join_pending: "Request sent; waiting for the owner or an admin.",
  n_joined: "Joined “{group}”.", n_created: "Group created, ID {id}. Give the ID to friends so they can join.",
  sys_joined: "{name} joined", sys_left: "{name} left", sys_removed: "{name} was removed", sys_role: "{name} is now {role}",
  sys_muted: "{name} is muted until {until}", sys_unmuted: "{name} was unmuted", sys_mute_all_on: "Everyone is muted", sys_mute_all_off: "Everyone may post again",
  sys_announcement: "The announcement changed", sys_updated: "Group settings changed", new_join_request: "{name} asks to join “{group}”",
  back: "Back", unknown_user: "user",
  e_disconnected: "Disconnected; try again in a moment", e_bad_request: "Invalid input: {reason}", e_unknown_op: "The server does not support this",
  e_unauthenticated: "Wrong username or password, or the login expired", e_forbidden: "You are not allowed to do that", e_not_found: "Not found (group, user or message)",
  e_not_member: "You are not a member of this group", e_conflict: "Conflict: {reason}", e_bad_code: "Wrong or expired code",
  e_verification_required: "Verify your identity first", e_member_cap_reached: "The group is full", e_create_cap_reached: "You own as many groups as allowed",
  e_join_cap_reached: "You are in as many groups as allowed", e_admin_cap_reached: "The group has as many admins as allowed", e_credit_too_low: "Credit level too low",
  e_muted: "You are muted", e_group_suspended: "Posting in this group is suspended", e_group_closed: "The platform closed this group",
  e_blacklisted: "The platform closed this account", e_content_blocked: "The text contains prohibited content; not sent", e_rate_limited: "Too fast; try again in {s} s",
  e_too_large: "Too long", e_internal: "Server error; please retry", e_generic: "Failed: {reason}",
};
const TABLES = { "zh-CN": zh, en };
let lang = localStorage.getItem("qg.lang") === "en" ? "en" : "zh-CN";

export function getLang() { return lang; }
export function setLang(l) {
  lang = l === "en" ? "en" : "zh-CN";
  localStorage.setItem("qg.lang", lang);
  document.documentElement.lang = lang;
}
export function t(key, params = {}) {
  const s = TABLES[lang][key] ?? zh[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (params[k] ?? "").toString());
}
// A refused request in plain language: the contract's code decides, the server's reason fills in.
export function errorText(err) {
  const code = err && err.code ? err.code : "internal";
  const key = "e_" + code;
  const reason = (err && err.reason) || "";
  if (code === "rate_limited") {
    const ms = err.reply && err.reply.retry_after_ms;
    return t(key, { s: ms ? Math.ceil(ms / 1000) : 1 });
  }
  if (TABLES[lang][key]) return t(key, { reason });
  return t("e_generic", { reason: reason || code });
}
export function fmtTime(ms) {
  const d = new Date(ms);
  const now = new Date();
  const opts = { hour: "2-digit", minute: "2-digit" };
  if (d.toDateString() !== now.toDateString()) Object.assign(opts, { month: "2-digit", day: "2-digit" });
  return d.toLocaleString(lang, opts);
}
export function fmtDate(ms) { return new Date(ms).toLocaleDateString(lang); }
document.documentElement.lang = lang;
