import { browserStore } from "./browser_store.js";
import { reasonZh } from "./reasons.js";

// String table: Simplified Chinese by default, English switchable. t(key, params) fills {name} slots.
const zh = {
  app: "群管", tagline: "安全、合规的群聊", lang_switch: "English", colon: "：", list_sep: "、",
  field_display_name: "昵称", field_uses: "可使用次数", field_expiry: "有效期",
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
  deleted_message: "此消息已被删除", recalled_by: "{name} 撤回了一条消息", recalled_by_me: "你撤回了一条消息",
  deleted_by_manager: "此消息已被群主或管理员删除", deleted_by_platform: "此消息因违反平台规定已被删除",
  sending: "发送中…", send_failed: "发送失败：{reason}",
  send_stale: "保存超过一天未确认发送，请确认未发出后再重发", send_logged_out: "退出登录前未能发出：可以重发、编辑或放弃", unsent_kept: "{n} 条未发出的消息保留在本浏览器中，一天内重新登录后可以重发。", send_edit_blocked: "现在不能发言，无法编辑这条消息；可以复制或放弃", held: "消息已提交平台审核，通过后才会显示", my_message_released: "你在「{name}」待审核的消息已通过审核，群成员现在可以看到",
  announcement: "群公告", members: "成员", manage: "群管理", group_settings: "群设置", info: "群信息",
  member_count: "{n} 名成员", member_count_max: "{n} / {max} 名成员", created_at: "创建于 {date}", created: "创建日期",
  report: "举报", report_message: "举报消息", report_user: "举报用户", report_group: "举报此群", delete: "删除",
  report_reason: "举报原因", report_detail: "补充说明（可选）", report_sent: "举报已提交，平台处理后会通知你", report_dup: "你已举报过，平台正在处理",
  kick: "移出群", mute: "禁言", unmute: "解除禁言", make_admin: "设为管理员", remove_admin: "取消管理员",
  transfer: "转让群主", mute_all: "全员禁言", mute_all_on: "开启全员禁言", mute_all_off: "关闭全员禁言",
  done_muted: "已禁言 {name}", done_unmuted: "已解除 {name} 的禁言", done_kicked: "已把 {name} 移出群", done_admin_made: "已设 {name} 为管理员",
  done_admin_removed: "已取消 {name} 的管理员", done_transferred: "已把群主转让给 {name}", done_approved: "已同意 {name} 入群",
  done_rejected: "已拒绝 {name} 的入群申请", reject_all: "全部拒绝", confirm_reject_all: "拒绝全部 {n} 个入群申请？他们一段时间内不能再次申请。", done_rejected_all: "已拒绝 {n} 个入群申请", done_mute_all_on: "已开启全员禁言", done_mute_all_off: "已关闭全员禁言",
  mute_length: "禁言时长", confirm_revoke_link: "作废这个邀请链接？已发出的链接和二维码将不能再用来入群。", ban_user_id: "要禁止加入的用户 ID",
  mute_10m: "10 分钟", mute_1h: "1 小时", mute_1d: "1 天", mute_7d: "7 天", mute_30d: "30 天",
  join_requests: "入群申请", no_requests: "没有待处理的申请", approve: "同意", reject: "拒绝", requested_at: "申请于 {time}",
  invite: "邀请", invite_user_id: "对方的用户 ID", invite_sent: "邀请已发送", announcement_edit: "编辑群公告", announcement_saved: "公告已更新",
  dissolve: "解散群", leave: "退出群", confirm_dissolve: "确定解散「{name}」？解散后无法恢复。", confirm_leave: "确定退出「{name}」？",
  confirm_kick: "确定把 {name} 移出群？", confirm_transfer: "确定把群主转让给 {name}？你将成为普通成员。",
  muted_tag: "禁言至 {until}", announcement_fold: "点按收起群公告", announcement_unfold: "点按展开群公告", you: "（我）", saved: "已保存", member_filter: "按昵称或用户 ID 查找成员", member_filter_none: "没有匹配的成员",
  members_more: "另有 {n} 位成员未列出，可输入昵称或用户 ID 查找。", members_all: "全部列出",
  profile: "我的账号", my_user_id: "我的用户 ID", credit_level: "信用等级", id_verified: "已实名认证", id_not_verified: "未实名认证",
  verify: "实名认证", legal_name: "真实姓名", id_number: "身份证号", verify_done: "实名认证成功", verify_hint: "创建群需要实名认证。姓名和证件号加密保存，任何人（包括你自己）都看不到。",
  forgot_password: "忘记密码？", reset_password: "重设密码", resetting: "正在重设…", back_to_login: "返回登录",
  password_reset_done: "密码已重设，请用新密码登录", reset_no_account: "这个手机号没有账号",
  logout: "退出登录", logout_everywhere: "退出所有设备", logout_everywhere_confirm: "退出这个账号在所有设备和页面上的登录？之后每处都要重新登录。",
  logged_out_everywhere: "已在所有设备上退出登录，请重新登录", password_changed_elsewhere: "密码已在另一处修改，请用新密码重新登录",
  my_logins: "登录设备", my_logins_hint: "这个账号登录着的设备和浏览器。不认识的，可以让它退出登录。", unknown_device: "未知设备",
  this_device: "本设备", online_now: "在线", logged_in_at: "登录于 {when}", end_login: "退出登录", end_login_of: "让 {device} 退出登录",
  end_login_confirm: "让「{device}」退出登录？它要重新输入密码才能再登录。", login_ended: "该设备已退出登录",
  login_ended_elsewhere: "这个设备已被你在另一处退出登录，请重新登录",
  change_password: "修改密码", current_password: "当前密码", new_password: "新密码（8–128 个字符）", password_changed: "密码已修改，其他设备上的登录已退出",
  change_password_hint: "修改后，其他设备和页面上的登录都会退出。", delete_account: "注销账号", delete_account_hint: "注销前请先转让或解散你创建的群。请输入密码确认。", account_deleted: "账号已注销",
  agreement: "平台规则与用户协议", rules_heading: "平台规则", agreement_heading: "用户协议", save_announcement: "保存群公告", save_settings: "保存群设置", agreement_version: "版本 {v}", accept: "我已阅读并同意", agreement_needed: "请先阅读并同意平台规则与用户协议",
  notices: "通知", no_notices: "暂无通知", no_agreement: "平台尚未发布规则与用户协议", join_now: "加入",
  n_warning: "平台警告（群「{group}」）：{text}", n_warning_deadline: "请在 {deadline} 前整改。",
  n_report_result_upheld: "你的举报已处理，成立：{text}", n_report_result_rejected: "你的举报已处理，未成立：{text}",
  appeal: "申诉", appeal_sanction_id: "处罚编号", appeal_sanction_hint: "处罚的通知里附有编号，也可以直接点通知里的「申诉」。",
  appeal_text: "申诉理由", appeal_text_hint: "说明为什么应当撤销这项处罚（最多 2000 字），只有平台工作人员能看到。",
  appeal_sent: "申诉已提交（编号 {id}），平台处理后会通知你", appeal_not_found: "没有找到针对你本人或你担任群主的群的这项处罚",
  appeal_conflict: "这项处罚已经结束，或你对它的申诉还在处理中", appeal_final: "关闭群或公众号、移除文章是最终决定，不能申诉；已关闭的群或公众号的处罚也不能申诉",
  n_appeal_upheld: "你的申诉（处罚 {sid}）已通过，处罚已撤销：{text}", n_appeal_upheld_ended: "你的申诉（处罚 {sid}）已通过，处罚此前已结束：{text}", n_appeal_rejected: "你的申诉（处罚 {sid}）未通过，处罚维持：{text}",
  my_reports: "我的举报与申诉", my_reports_list: "我的举报", my_appeals_list: "我的申诉",
  no_my_reports: "你还没有举报过", no_my_appeals: "你还没有申诉过", view_my_reports: "查看",
  my_sanctions_list: "对我的处罚", no_my_sanctions: "目前没有针对你或你的群的平台处罚",
  measure_warning: "群「{group}」受到平台警告", measure_suspend_group: "群「{group}」被暂停发言",
  measure_suspend_admin: "你的群管理权限被暂停", measure_revoke_create: "你创建群的权限被收回",
  measure_account_warning: "公众号「{account}」受到平台警告", measure_restrict_comments: "公众号「{account}」的评论功能被限制",
  measure_suspend_account: "公众号「{account}」被暂停更新",
  sanction_deadline: "整改期限 {time}", sanction_until: "至 {time}", sanction_no_end: "无期限",
  sanction_since: "处罚编号 {sid}，自 {time}", sanction_reason: "原因：{reason}",
  sanction_overdue: "已逾期", sanction_in_force: "生效中",
  n_sanction_standing: "平台处罚（编号 {sid}）：{what}。原因：{reason}", n_sanctions_standing: "有 {n} 项平台处罚针对你或你的群",
  outcome_open: "处理中", outcome_upheld: "成立", outcome_rejected: "未成立",
  report_about: "举报{target}：{reason}", appeal_about: "对处罚 {sid} 的申诉", sent_at: "提交于 {time}",
  handled_note: "{time} 处理：{note}", appeal_lifted: "处罚已撤销。", appeal_ended: "申诉成立，处罚此前已结束。", appeal_stands: "处罚维持。",
  rt_message: "群「{group}」的第 {seq} 条消息", rt_user: "用户 {user}", rt_group: "群「{group}」",
  rt_account: "公众号「{account}」", rt_post: "公众号「{account}」的文章", rt_comment: "公众号「{account}」的评论",
  rt_post_titled: "公众号「{account}」的文章《{title}》", rt_comment_titled: "公众号「{account}」文章《{title}》下的评论",
  n_outcomes_since: "你上次查看之后，平台处理了你的 {n} 项举报或申诉",
  n_platform_since: "你不在线时平台发布了 {n} 条公告，见通知列表",
  n_sanction_lifted: "平台已撤销处罚（编号 {sid}）：{text}", n_sanction_lifted_group: "平台已撤销对群「{group}」的处罚（编号 {sid}）：{text}",
  n_sanction: "平台处罚：{text}", n_blacklisted: "你的账号已被平台封禁：{text}", n_agreement: "平台发布了规则与用户协议（版本 {v}），请阅读并同意。",
  n_platform: "平台公告：{text}", n_group_handover: "群「{group}」的群主被平台列入黑名单：你作为资历最久的管理员成为新群主", n_content_removed: "你在群「{group}」的一条消息被平台移除：{text}",
  n_suspended: "群「{group}」已被平台暂停发言，{until} 恢复。{reason}", n_frozen: "平台已临时冻结群「{group}」所在的类别，{until} 前不能发言。{reason}",
  n_closed: "群「{group}」已被平台关闭：{reason}",
  n_closed_owner: "群「{group}」的群主被平台列入黑名单，无管理员可接任，群已关闭：{reason}",
  n_gone: "你已不在群「{group}」中（离线期间被移出、群被解散或关闭，或在其他设备上退出）。",
  n_unsent: "以下内容未能发往群「{group}」：{texts}",
  n_dissolved: "群「{group}」已被群主解散。", n_dissolved_by_me: "你解散了群「{group}」。", n_removed: "你已被移出群「{group}」。", n_invited: "{by} 邀请你加入群「{group}」（群号 {id}）。",
  n_join_approved: "你加入群「{group}」的申请已通过。", n_join_rejected: "你加入群「{group}」的申请被拒绝。", n_join_group_dissolved: "你申请加入的群「{group}」已解散，申请随之失效。", n_join_group_closed: "你申请加入的群「{group}」已被平台关闭，申请随之失效。", n_join_pending: "申请已提交，等待群主或管理员批准。",
  n_joined: "已加入群「{group}」。", n_created: "群已创建，群号 {id}。把群号告诉朋友，他们就能加入。", n_created_approval: "群已创建，群号 {id}。朋友凭群号申请加入，由你或管理员同意。",
  n_created_invite: "群已创建，群号 {id}。只有受邀的人能加入：在「群管理」里邀请，或生成邀请链接。",
  sys_joined: "{name} 加入了群聊", sys_left: "{name} 退出了群聊", sys_removed: "{name} 被移出群聊", sys_role: "{name} 现在是{role}",
  sys_muted: "{name} 被禁言至 {until}", sys_unmuted: "{name} 被解除禁言", sys_mute_all_on: "已开启全员禁言", sys_mute_all_off: "已关闭全员禁言",
  sys_announcement: "群公告已更新", sys_updated: "群设置已更新", new_join_request: "{name} 申请加入群「{group}」", new_join_requests: "{n} 个新的入群申请（群「{group}」）",
  back: "返回", unknown_user: "用户",
  e_disconnected: "连接已断开，请稍后重试", e_bad_request: "输入有误：{reason}", e_unknown_op: "服务器不支持此操作",
  e_unauthenticated: "用户名或密码错误，或登录已过期", e_wrong_password: "密码不正确", ended_logged_out: "这次登录已退出（在其他设备或标签页上），请重新登录", ended_password_changed: "账号密码已修改，请用新密码登录", ended_too_many_logins: "这次登录已被账号更新的登录顶替，请重新登录", ended_account_deleted: "账号已注销", ended_account_reopened: "平台已恢复你的账号，请重新登录",
  session_ended: "登录已失效（可能已在别处退出，或已过期），请重新登录",
  logged_out_elsewhere: "你已在另一个页面或设备上退出登录，请重新登录", e_forbidden: "没有权限执行此操作", e_forbidden_because: "没有权限：{reason}", e_not_found: "找不到对象（群、用户或消息）", e_no_such_group: "没有这个群：群号不存在，或群已解散",
  e_not_member: "你不是该群成员", e_conflict: "冲突：{reason}", e_bad_code: "验证码错误或已过期",
  e_verification_required: "需要先完成实名认证", e_member_cap_reached: "群成员已满", e_create_cap_reached: "你创建的群数量已达上限",
  e_join_cap_reached: "加入的群数量已达上限",
  e_target_verification_required: "对方尚未完成实名认证，不能成为群主", e_target_create_cap: "对方拥有的群数量已达上限，不能再接手这个群",
  e_target_join_cap: "对方加入的群数量已达上限，不能再加入", e_admin_cap_reached: "管理员数量已达上限", e_credit_too_low: "信用等级不足",
  e_muted: "你已被禁言", e_group_suspended: "本群已被平台暂停发言", e_group_closed: "该群已被平台关闭",
  e_blacklisted: "账号已被平台封禁", e_content_blocked: "内容包含违规信息，未发送", e_content_blocked_unsaved: "内容包含违规信息，未保存", e_rate_limited: "操作太频繁，请 {s} 秒后再试", e_rate_limited_until: "操作太频繁，请在 {until} 之后再试", e_request_rejected: "群管理员拒绝了你的入群申请，{until} 后可以再次申请（也可以请管理员邀请你）",
  media_after_review: "审核通过后可查看", e_too_large: "内容过长或文件过大", e_field_too_long: "{what}最多 {max} 个字", e_text_too_long: "文字最多 {max} 个字", e_file_too_large: "文件不能超过 {size}", e_storage_quota_reached: "你上传的文件已达存储上限，暂时不能再上传", e_internal: "服务器错误，请重试", e_banned: "你已被禁止加入这个群", e_banned_until: "你已被禁止加入这个群，至 {until}",
  e_generic: "操作失败：{reason}",  // v2: richer messages, media, read state, bans, slow mode, invite links, the moderation log
  message: "消息", message_menu: "消息操作", message_menu_of: "{name} {time} 的消息的操作", messages_of: "{name} 的消息", message_label: "{name} {time}", mentions_you_said: "（提到了你）", message_said: "{name}：{text}", list_me: "你", messages_said: "{n} 条新消息，最新一条：{last}",
  notices_new: "通知（{n} 条新）", cancel_file: "取消 {name}", reply: "回复", replying_to: "回复 {name}：", edit: "编辑", edited: "已编辑", react_toggle: "点一下加上或取消", react_blocked: "现在不能发言，也就不能加上或取消表情回应",
  attach: "发送图片或文件", too_many_files: "一条消息最多 {n} 个附件", upload_failed: "「{name}」上传失败：{reason}", download: "下载",
  upload_paused: "已暂停，连上后继续", upload_attach_again: "页面重新打开后文件已不在，请点“编辑”重新添加",
  kind_image: "图片", kind_audio: "语音", kind_video: "视频", kind_file: "文件",
  mention_all_name: "所有人", mention_all_hint: "提醒全体成员", mentioned_you: "{name} 在「{group}」中@了你", mentioned_flag: "[有人@我] ", unread_said: "{n} 条未读", said_sep: "，", requests_said: "{n} 个入群申请", draft_flag: "[草稿] ",
  pin: "置顶", unpin: "取消置顶", pinned: "置顶消息", pinned_n: "{n} 条置顶消息", all: "全部", pin_done: "已置顶", unpin_done: "已取消置顶",
  search: "搜索", search_found: "找到 {n} 条", search_hint: "搜索本群消息（至少 2 个字）", search_short: "请至少输入 2 个字", no_results: "没有找到相关消息", load_more: "加载更多",
  mention_more: "还有 {n} 人，继续输入以缩小范围", message_gone: "这条消息已无法查看", message_too_far: "这条消息太早了，请向上翻看更早的消息找到它", slow_note: "慢速模式：每位成员每 {d}只能发一条消息。", slow_wait: "{s} 秒后可再发送。",
  sys_banned: "{name} 被移出群聊并禁止再加入", sys_pinned: "置顶消息已更新", sys_slow_on: "已开启慢速模式：每 {d}一条", sys_slow_off: "已关闭慢速模式",
  n_banned: "你已被移出群「{group}」，并被禁止再加入。",
  invite_after_login: "登录或注册后，会询问你是否加入邀请你的群。",
  invite_confirm: "你打开了一个群邀请链接。要加入这个群吗？", invite_confirm_named: "你打开了群「{name}」（{category}，{n} 人）的邀请链接。要加入这个群吗？", invite_confirm_title: "加入群", invite_failed: "无法通过邀请链接加入：{reason}",
  ban: "禁止加入", confirm_ban: "把 {name} 移出群并禁止再加入？", ban_length: "时长", ban_reason: "原因", ban_reason_hint: "可选，只有群主和管理员能看到",
  ban_1d: "1 天", ban_7d: "7 天", ban_30d: "30 天", ban_forever: "直到解除", ban_done: "已禁止 {name} 加入", ban_clean: "同时删除其在本群的消息", clean: "删除其消息", confirm_clean: "删除 {name} 在本群能看到的全部消息？消息会为所有成员隐藏，原文按规定留存。", clean_done: "已删除 {name} 的 {n} 条消息", clean_partial: "已删除 {name} 的 {n} 条消息，其余未能删除：{why}（可在禁止加入名单中再点“删除其消息”）", done_rejected_all_some: "已拒绝 {n} 个入群申请（其余 {m} 个已由其他管理员处理）", log_seqs_many: "消息 {seqs} 等，共 {n} 条", bans: "禁止加入名单", no_bans: "名单为空",
  banned_until: "至 {until}", banned_forever: "直到解除", ban_by: "操作人：{name}", unban: "解除", unban_done: "已解除",
  ban_by_id_hint: "也可以按用户 ID 禁止不在群里的人加入。",
  slow_mode: "慢速模式", slow_off: "关闭", slow_every: "每 {d}一条",
  n_seconds: "{n} 秒", n_minutes: "{n} 分钟", n_hours: "{n} 小时",
  invite_links: "邀请链接", invite_link_create: "生成链接", invite_link_created: "邀请链接已生成",
  invite_links_hint: "拿到链接或扫描二维码的人可以直接加入（不需要审批）；被禁止加入的人除外。这里只列出本次打开页面后生成的链接。",
  uses_any: "次数不限", uses_n: "最多 {n} 人加入", expire_1h: "1 小时有效", expire_1d: "1 天有效", expire_7d: "7 天有效", expire_never: "长期有效",
  expires_at: "{time} 失效", qr_alt: "邀请链接二维码", copy: "复制", copied: "已复制", copy_failed: "浏览器不允许复制：请长按文字选择后复制", revoke: "作废", revoke_done: "链接已作废", revoked: "已作废",
  group_log: "管理日志", group_log_open: "查看管理日志", log_empty: "暂无记录", platform: "平台",
  log_until: "至", log_deadline: "期限", log_expires_at: "到期", log_on: "开启", log_off: "关闭",
  log_kick: "移出群", log_mute: "禁言", log_mute_all: "全员禁言", log_set_role: "设置角色", log_transfer_owner: "转让群主",
  log_create_group: "创建群", log_set_announcement: "修改公告", log_update_group: "修改群设置", log_delete_message: "删除消息", log_delete_user_messages: "删除某人的消息", log_approve_join: "同意入群",
  log_reject_join: "拒绝入群", log_invite: "邀请", log_ban: "禁止加入", log_unban: "解除禁止加入", log_set_slow_mode: "慢速模式",
  log_pin_message: "置顶消息", log_create_invite_link: "生成邀请链接", log_revoke_invite_link: "作废邀请链接", log_dissolve_group: "解散群",
  log_warn_group: "平台警告", log_suspend_group: "平台暂停发言", log_close_group: "平台关闭", log_lift_sanction: "平台解除处罚",
  log_suspend_admin: "平台暂停管理权限", log_remove_message: "平台删除消息", log_decide_appeal: "平台处理申诉",
  log_review_release: "平台审核放行消息", log_review_keep: "平台审核保留消息", log_review_remove: "平台审核删除消息",
  log_outcome_upheld: "申诉成立", log_outcome_rejected: "申诉驳回",
  log_remove_term: "平台按关键词删除消息", log_seqs: "消息 {seqs}", log_seq: "消息 #{seq}", log_pinned: "置顶", log_unpinned: "取消置顶",
  log_link: "链接 {link}", log_unmute: "解除禁言", log_max_uses: "最多使用 {n} 次", log_max_uses_one: "只能使用 1 次", log_quoted: "「{text}」", log_note: "备注：{note}", log_sanction: "处置编号 {id}",
  log_sanctions_lifted: "同时结束处置 {ids}", log_item: "审核项 {id}",
  // v3: public accounts (accounts.js, posts.js, account_errors.js)
  accounts: "公众号", find_account: "按 ID 查找公众号", find_account_hint: "输入公众号 ID（9–12 位数字）。", open: "打开",
  new_account: "开设公众号", new_account_hint: "公众号由已实名认证的个人开设，或由你代表一个组织开设（需要组织名称和统一社会信用代码）。",
  my_accounts: "我运营的", following: "我关注的", no_subscriptions: "还没有关注公众号。点上方的 🔍 按 ID 查找。",
  arole_owner: "所有者", arole_editor: "编辑", astatus_active: "正常", astatus_restricted: "评论已被平台关闭", astatus_suspended: "已被平台暂停更新", astatus_closed: "已注销",
  pick_account: "从左侧选择一个公众号，或按 ID 查找", loading: "正在加载…", account_id: "公众号 ID",
  acat_news: "新闻", acat_government: "政务", acat_education: "教育", acat_culture: "文化", acat_lifestyle: "生活",
  acat_business: "商业", acat_technology: "科技", acat_other: "其他",
  label_news: "新闻资质", label_government: "政务资质", label_verified: "已认证", label_organization: "机构", labels: "标签", subject: "运营主体", subject_individual: "个人",
  subject_organization: "组织", subject_org: "组织：{name}", subscribers: "关注人数", status: "状态",
  follow: "关注", unfollow: "取消关注", followed: "已关注「{name}」", unfollowed: "已取消关注「{name}」",
  publish: "发布文章", account_manage: "公众号设置", report_account: "举报公众号", report_post: "举报文章",
  org_name: "组织名称", org_code: "统一社会信用代码", org_code_hint: "18 位，大写字母和数字", account_name: "公众号名称",
  account_name_hint: "1–30 个字；不能与其他公众号重名（不区分大小写、全半角和空格）", intro: "简介",
  account_created: "公众号已开设，ID {id}。",
  account_profile: "名称和简介", editors: "编辑", editors_hint: "编辑可以发布、删除文章和管理评论。输入对方的用户 ID（在对方的“我的账号”里）。这里只列出本次打开页面后设置的编辑。",
  editor_add: "设为编辑", editor_remove: "取消编辑", editor_added: "已设为编辑", editor_removed: "已取消编辑", editor_on: "编辑", editor_off: "已取消",
  account_close: "注销公众号", account_close_hint: "注销后不能再发布，也不能恢复；文章和评论按规定保存一段时间，名称不能再被使用。",
  confirm_account_close: "确定注销「{name}」？注销后无法恢复。", account_closed_done: "「{name}」已注销",
  new_comment_here: "新评论，{who}：{text}", comment_field: "评论", cancel_reply: "不再回复", editor_user_id: "编辑的用户 ID",
  publish_upload_failed: "有图片没有上传成功，已从列表中移出；再按一次「发布文章」即发布现在列出的图片",
  new_post: "「{name}」发布了新文章：{title}", new_comment: "「{name}」有新评论，{who}：{text}", new_comment_held: "「{name}」有新评论等待审核，{who}：{text}",
  own_comment_shown: "你在「{name}」的评论已公开。", n_editor_on: "你已成为公众号「{name}」的编辑。", n_editor_off: "你已不再是公众号「{name}」的编辑。",
  an_warning: "平台警告（公众号「{name}」）：{text}", an_suspended: "公众号「{name}」已被平台暂停更新：{until} 前不能发布文章，也不能修改名称和简介。{text}",
  an_account_restricted: "公众号「{name}」的评论已被平台关闭：{text}", an_account_unrestricted: "公众号「{name}」的评论已恢复。{text}",
  an_account_closed: "公众号「{name}」已被平台关闭：{text}", an_account_closed_by_owner: "公众号「{name}」已被其所有者注销", an_account_licensed: "公众号「{name}」的资质有变化：{text}",
  an_account_credit: "公众号「{name}」的信用分有变化：{text}", an_post_removed: "公众号「{name}」的一篇文章已被平台移除：{text}",
  an_sanction_lifted: "平台已解除对公众号「{name}」的处罚：{text}",
  an_lifted_warning: "平台已撤销对公众号「{name}」的警告（处罚编号 {sid}）：{reason}",
  an_lifted_restrict_comments: "平台已解除对公众号「{name}」评论功能的限制（处罚编号 {sid}）：{reason}",
  an_lifted_suspend_account: "平台已解除对公众号「{name}」的暂停更新（处罚编号 {sid}）：{reason}",
  ae_verify: "开设公众号需要先完成实名认证（组织的公众号也由一位已实名的个人代为开设）。", ae_cap: "你（或这个组织）运营的公众号数量已达上限。注销一个后才能再开设。",
  ae_name_taken: "这个名称已被其他公众号使用（已注销的也算；大小写、全半角和空格不同也算同名）。", ae_barred: "平台已禁止这个人或组织运营公众号。",
  ae_gov_org_only: "政务类公众号只能由组织开设。", ae_reserved: "名称（或机构名称）包含平台保留的名称，不可使用。",
  ae_org_code: "统一社会信用代码不正确：应为 18 位大写字母和数字，且最后一位校验码要对得上。", ae_org_name: "请填写组织名称（1–100 个字）。",
  ae_too_long: "名称或简介太长（名称最多 30 个字，简介最多 500 个字）。", ae_publish_wait: "按公众号当前的信用等级，{d}后才能再发布。",
  ae_suspended: "公众号已被平台暂停更新，暂时不能发布。", ae_closed: "这个公众号已关闭。",
  ae_license_news: "新闻类公众号要先由平台授予新闻资质才能发布。", ae_license_government: "政务类公众号要先由平台授予政务资质才能发布。",
  ae_comments_closed: "这篇文章关闭了评论。", ae_comments_restricted: "平台已关闭这个公众号的评论。", ae_platform_review: "这条评论正在等待平台审核，暂时不能通过。",
  ae_no_user: "没有这个用户（请核对用户 ID）。", ae_editor_owner: "所有者本人不能设为编辑。", ae_editors_full: "编辑人数已达上限。",
  ae_no_account: "没有这个公众号。", ae_bad_id: "公众号 ID 是 9–12 位数字。", ae_post_gone: "这篇文章已不存在或已被删除。",
  account_is_closed: "这个公众号已关闭，文章不再显示。", posts: "文章", no_posts: "还没有文章", reads_n: "阅读 {n}", comments_n: "评论 {n}", images_n: "图片 {n}",
  post_held: "审核中", post_held_hint: "这篇文章正在等待平台审核，审核通过前只有所有者和编辑能看到。", delete_post: "删除文章",
  confirm_post_delete: "确定删除「{title}」？", post_deleted: "文章已删除",
  comments_title: "评论", comments_closed_note: "作者关闭了评论", comments_review_note: "评论经作者审核后公开。", no_comments: "还没有评论",
  comment_placeholder: "写评论…", comment_send: "评论", comment_sent: "评论已发表", comment_held: "评论已提交，审核通过后公开",
  comment_awaiting_mine: "等待审核，仅你可见", comment_awaiting: "待审核", comment_hidden: "已隐藏", hide: "隐藏", reply_to_name: "回复 {name}", reply_to_unseen: "回复一条未显示的评论",
  confirm_comment_delete: "确定删除这条评论？删除后所有人都看不到。", moderated_approve: "评论已公开", moderated_hide: "评论已隐藏", moderated_delete: "评论已删除",
  post_title: "标题", post_body: "正文", post_comments: "评论", cmode_open: "允许评论", cmode_review: "评论需审核后公开", cmode_closed: "关闭评论", post_comments_set: "评论设置已改为：{mode}",
  add_images: "添加图片", images_only: "文章只能附图片", uploading: "正在上传图片…", post_published: "文章已发布",
  post_held_toast: "文章已提交平台审核，通过后才会推送给关注者", comments_forced_closed: "按公众号当前的信用等级，这篇文章不能开放评论，评论已关闭。",
  // the platform's measures that follow a group's owner, credit given back, a person's blacklisting
  held_waiting: "等待审核", held_empty: "（空）", held_withdraw: "撤回", held_withdrawn: "已撤回，不再提交审核",
  held_account_name: "新名称「{name}」等待平台审核", held_account_intro: "新简介等待平台审核",
  held_of_account_name: "公众号「{name}」的新名称", held_of_account_intro: "公众号「{name}」的新简介",
  held_released: "你提交审核的内容已通过并生效", held_released_not_applied: "你提交审核的内容已通过，但此后已有更改，未生效",
  held_group_name: "新群名「{name}」已提交平台审核，通过后才会生效；在此之前仍显示原来的群名。",
  held_new_group: "群名「{name}」已提交平台审核，通过前群名显示为「群聊 {id}」。",
  held_announcement: "公告已提交平台审核，通过后才会发布；在此之前群里仍是原来的公告。",
  held_display_name: "昵称「{name}」已提交平台审核，通过后才会生效；在此之前仍显示原来的昵称。",
  held_register_name: "注册成功。昵称「{name}」已提交平台审核，通过前显示为用户名「{username}」。",
  e_group_suspended_until: "本群已被平台暂停发言，{until} 恢复", e_held_dissolved: "本群正被平台暂停，{until} 前不能解散",
  e_held_handed_on: "本群正被平台暂停，{until} 前不能转让群主", e_held_renamed: "本群已被平台暂停发言，{until} 前不能修改群名",
  e_held_create: "你担任群主的一个群正被平台暂停，{until} 前不能创建新群", e_held_target: "对方担任群主的一个群正被平台暂停，{until} 前不能接手其他群",
  held_note: "本群已被平台暂停发言，{until} 恢复。暂停期间不能发布新公告或修改群名；平台针对本群的暂停期间，也不能解散或转让本群，你也不能创建新群。",
  held_note_sanction: "本群已被平台暂停，{until} 恢复。暂停期间不能发言、发布新公告、修改群名、解散或转让本群，你也不能创建新群。",
  held_note_freeze: "平台已临时冻结本群所在的类别，{until} 恢复。冻结期间不能发言、发布新公告、修改群名或改到其他类别；仍可解散或转让本群。",
  e_held_moved: "本群所在类别已被平台冻结，{until} 前不能改到其他类别",
  held_disabled: "平台暂停期间不能这样做（{until} 恢复）",
  n_credit: "你的信用分现为 {score}（等级 {level}）：{reason}", n_credit_back: "处罚 {sid} 扣除的 {points} 信用分已退还，你的信用分现为 {score}（等级 {level}）。",
  n_credit_other: "你的信用分有变化：{text}", n_blacklisted_twin: "{text}（与账号 {user} 为同一实名身份）",
  an_credit_changed: "公众号「{name}」的信用分变动 {delta}，现为 {score}（等级 {level}）：{reason}",
  an_credit_back: "公众号「{name}」被处罚 {sid} 扣除的 {points} 信用分已退还，现为 {score}（等级 {level}）。",
  ae_category_frozen: "平台已暂时冻结这个类别，现在不能在其中开设公众号。", ae_suspended_edit: "公众号已被平台暂停更新，暂停期间不能修改名称和简介。",
  ae_editor_unverified: "对方还没有完成实名认证，不能设为编辑：编辑以公众号的名义发布，和所有者一样需要实名认证。",
  ae_publish_verify: "发布文章需要先完成实名认证（编辑也一样）。", publish_suspended: "暂停更新期间不能发布文章", verify_to_publish: "实名认证后才能发布",
  // the message menu and the panel: confirmations, quotes one cannot see, edits over the limit, report reasons, settings changed
  recall: "撤回", confirm_recall: "撤回这条消息？群里所有人看到的都将是“{name} 撤回了一条消息”，撤回后无法恢复。",
  confirm_delete_other: "删除 {name} 的这条消息？群里所有人看到的都将是“此消息已被群主或管理员删除”，删除会记入管理日志，且无法恢复。",
  quote_unavailable: "消息不可查看（在你加入之前发送，或已被移除）",
  edit_too_long: "文字有 {n} 个字，超过了上限 {max} 个字。请删减后再保存。", edit_empty: "消息不能没有文字；要收回这条消息，请用「撤回」。",
  invite_unusable: "这个邀请链接不存在、已用完、已过期或已作废", uses_one: "最多 1 人加入",
  // the panel's invite links as the server lists them (invite_links): joins so far, who made each, revoked by its link id
  invite_links_listed_hint: "拿到链接或扫描二维码的人可以直接加入（不需要审批）；被禁止加入的人除外。这里列出本群所有仍然有效的链接，也包括其他管理员生成的；完整链接只在生成它的页面上显示。",
  link_uses_of: "已加入 {n} / {max} 人", link_uses: "已加入 {n} 人", link_by: "{name} 生成", link_note: "备注：{note}",
  link_id: "链接编号 {id}", no_invite_links: "没有有效的邀请链接",
  invite_note: "链接备注", invite_note_placeholder: "备注（选填，仅管理员可见）",
  rr_illegal: "违法违规", rr_pornography: "色情低俗", rr_fraud: "诈骗", rr_harassment: "骚扰辱骂", rr_rumour: "谣言", rr_other: "其他",
  sys_renamed: "群名称已改为「{name}」", sys_category: "群类别已改为「{category}」", sys_policy: "加群方式已改为：{policy}", sys_sep: "；",
  // notices built from their fields (app.js, accounts.js): the measure, the operator's own words, the sanction's id
  n_sanction_suspend_admin: "平台已暂停你的群管理权限，{until} 恢复（处罚编号 {sid}）：{reason}",
  n_sanction_revoke_create: "平台已收回你创建群的权限（处罚编号 {sid}）：{reason}",
  n_lifted_suspend_admin: "平台已恢复你的群管理权限（处罚编号 {sid} 已撤销）：{reason}",
  n_lifted_still_suspend_admin: "平台已撤销处罚（编号 {sid}），但另一项处罚仍暂停你的群管理权限，至 {until}：{reason}",
  n_lifted_still_revoke_create: "平台已撤销处罚（编号 {sid}），但另一项处罚仍禁止你创建群：{reason}",
  n_lifted_revoke_create: "平台已恢复你创建群的权限（处罚编号 {sid} 已撤销）：{reason}",
  n_lifted_warning_group: "平台已撤销对群「{group}」的警告（处罚编号 {sid}）：{reason}",
  n_lifted_suspend_group_group: "平台已解除对群「{group}」的暂停（处罚编号 {sid}）：{reason}",
  n_lifted_still_suspend_group_group: "平台已撤销处罚（编号 {sid}），但群「{group}」仍暂停发言，至 {until}：{reason}",
  n_credit_report: "一项针对你的举报经平台核实成立，扣除 {points} 信用分，你的信用分现为 {score}（等级 {level}）。",
  n_credit_sanction: "处罚 {sid} 扣除 {points} 信用分，你的信用分现为 {score}（等级 {level}）。",
  n_credit_plain: "你的信用分变动 {delta}，现为 {score}（等级 {level}）。",
  n_credit_blocked: "你发送的内容含有违禁信息，已被拒绝，扣除 {points} 信用分，你的信用分现为 {score}（等级 {level}）。",
  n_credit_given_back: "同时处理的另一项措施未扣除的 {points} 信用分已退回，你的信用分现为 {score}（等级 {level}）。",
  an_credit_sanction: "公众号「{name}」因处罚 {sid} 被扣除 {points} 信用分，现为 {score}（等级 {level}）。",
  an_credit_plain: "公众号「{name}」的信用分变动 {delta}，现为 {score}（等级 {level}）。",
  cr_message: "你在群「{group}」的一条消息", cr_group_name: "你为群「{group}」设置的群名称", cr_announcement: "你在群「{group}」发布的群公告",
  cr_display_name: "你的昵称", cr_account_name: "你为公众号「{name}」设置的名称", cr_account_intro: "你为公众号「{name}」写的简介",
  account_text_held: "已提交，等待平台审核；审核通过前公众号仍显示原来的名称和简介。",
  account_carried_credit: "新公众号沿用同一主体其他公众号中最低的信用等级：{level} 级。",
  account_carried_comments: "同一主体的另一个公众号评论功能受限，新公众号的评论也从受限开始；平台可以解除。",
  account_carried_suspended: "同一主体的另一个公众号正被平台暂停发布，新公众号也暂停发布，直到那个暂停结束或被解除。",
  cr_post: "你在公众号「{name}」的文章《{title}》", cr_comment: "你在公众号「{name}」文章《{title}》下的评论",
  cr_rejected: "{what}未通过平台审核：{reason}", cr_removed: "{what}已被平台移除：{reason}",
  lic_news: "新闻资质", lic_government: "政务资质", lic_verified: "组织认证",
  an_licensed_grant: "平台已授予公众号「{name}」{label}：{reason}", an_licensed_revoke: "平台已收回公众号「{name}」的{label}：{reason}",
  an_account_name_granted: "平台已为公众号「{name}」授予保留名称：{reason}",
  an_post_removed_title: "公众号「{name}」的文章《{title}》已被平台移除：{reason}",
  // a platform measure on one's own powers (app.js, manage.js): said from the refusal's `cause` and `me`
  e_powers_suspended: "你的群管理权限已被平台暂停，{until} 恢复", e_create_revoked: "平台已收回你创建群的权限",
  powers_note: "平台已暂停你的群管理权限，{until} 恢复。在此之前你不能管理本群：不能审批、禁言、移出、修改设置、解散或转让。",
  // registration (app.js): the documented rules, checked before sending
  reg_username_rule: "用户名须为 3–32 位字母、数字、_ . -，以字母开头", reg_password_rule: "密码须为 8–128 个字符",
  reg_phone_rule: "请输入中国大陆手机号（11 位数字，以 13–19 开头）", reg_display_rule: "昵称须为 1–32 个字符，至少一个可见字符，不能含控制字符、不可见字符或私用区字符，一个字符上最多叠加 4 个组合符号，也不能用“已注销用户”",
  // sending (app.js): a refused message stays in the chat; lengths are counted in characters
  send_waiting: "发送太快，{s} 秒后自动重发…", send_retry: "重发", send_edit: "编辑", send_discard: "放弃",
  char_count: "{n} / {max} 字", text_too_long: "消息太长：{n} 字，最多 {max} 字。请删减后再发送。",
  name_too_long: "昵称太长：{n} 个字，最多 {max} 个字。",
  // the chat (app.js): new messages below the reader; the composer's hint at phone width
  new_below: "↓ {n} 条新消息", new_below_one: "↓ 1 条新消息", new_above: "↑ {n} 条未读消息", new_from_here: "以下为新消息",
  composer_placeholder_short: "输入消息", composer_closed: "暂不能发言",
  // a post's comments (posts.js): why no new comment can be written (comments_closed_by)
  comments_restricted_note: "平台已限制这个公众号的评论，暂不能发表新评论", comments_level_note: "按公众号当前的信用等级，暂不能发表评论",
  comments_forced_platform: "平台已限制这个公众号的评论，这篇文章暂不能评论。", comment_gone: "这条评论已不存在或已被删除。",
  // an answer `internal` (the server does not know whether it happened: a cluster's home changing,
  // a store that did not answer): the message, the upload and the sign-in are tried again by themselves
  send_unsure: "服务器未确认收到，{s} 秒后自动重试（不会重复发送）…",
  send_unknown: "服务器未确认是否收到；重发不会重复发送",
  send_edit_unsure: "这条消息可能已经发出：不改动再发送不会重复；改动后发送会成为一条新消息",
  server_busy: "服务器暂时无法登录，正在重试…", too_many_connections: "此账号在线的连接已达上限：请关闭其他标签页或设备，正在重试…",
  e_too_many_connections: "此账号在线的连接已达上限，请关闭其他标签页或设备后再登录", upload_retrying: "服务器未响应，稍后继续",
};
const en = {
  colon: ": ", list_sep: ", ", field_display_name: "Display name", field_uses: "Number of uses", field_expiry: "Valid for",
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
  deleted_message: "This message was deleted", recalled_by: "{name} recalled a message", recalled_by_me: "You recalled a message",
  deleted_by_manager: "Deleted by the group's owner or an admin", deleted_by_platform: "Removed by the platform for breaking its rules",
  sending: "Sending…", send_failed: "Not sent: {reason}",
  send_stale: "kept for over a day without being confirmed; check it was not sent before sending it again", send_logged_out: "not sent before you were logged out: send it again, edit it or discard it", unsent_kept: "Messages not sent ({n}) are kept in this browser: log in again within a day to send them.",
  send_edit_blocked: "You cannot post here right now, so this message cannot be edited; copy it or discard it", held: "Your message is held for review and will appear once approved", my_message_released: "Your message held for review in “{name}” was approved: the group can see it now",
  announcement: "Announcement", members: "Members", manage: "Manage", group_settings: "Settings", info: "Group info",
  member_count: "{n} members", member_count_one: "1 member", member_count_max: "{n} / {max} members", created_at: "Created {date}", created: "Created",
  report: "Report", report_message: "Report message", report_user: "Report user", report_group: "Report group", delete: "Delete",
  report_reason: "Reason", report_detail: "Details (optional)", report_sent: "Report sent; you will be told the outcome", report_dup: "You already reported this; it is being handled",
  kick: "Remove", mute: "Mute", unmute: "Unmute", make_admin: "Make admin", remove_admin: "Remove admin",
  transfer: "Transfer ownership", mute_all: "Mute everyone", mute_all_on: "Mute everyone", mute_all_off: "Unmute everyone",
  done_muted: "{name} is muted", done_unmuted: "{name} may speak again", done_kicked: "{name} was removed from the group", done_admin_made: "{name} is an admin now",
  done_admin_removed: "{name} is no longer an admin", done_transferred: "{name} owns the group now", done_approved: "{name} may join",
  done_rejected: "{name}'s request to join was declined", reject_all: "Reject all", confirm_reject_all: "Decline all {n} requests to join? They may not ask again for a while.", done_rejected_all: "{n} requests declined", done_mute_all_on: "Everyone is muted", done_mute_all_off: "Everyone may speak again",
  mute_length: "Mute for", confirm_revoke_link: "Revoke this invite link? The link and its QR code will no longer let anyone join.", ban_user_id: "User ID to ban",
  mute_10m: "10 minutes", mute_1h: "1 hour", mute_1d: "1 day", mute_7d: "7 days", mute_30d: "30 days",
  join_requests: "Join requests", no_requests: "No pending requests", approve: "Approve", reject: "Reject", requested_at: "asked {time}",
  invite: "Invite", invite_user_id: "Their user ID", invite_sent: "Invitation sent", announcement_edit: "Edit announcement", announcement_saved: "Announcement updated",
  dissolve: "Dissolve group", leave: "Leave group", confirm_dissolve: "Dissolve “{name}”? This cannot be undone.", confirm_leave: "Leave “{name}”?",
  confirm_kick: "Remove {name} from the group?", confirm_transfer: "Make {name} the owner? You will become a member.",
  muted_tag: "muted until {until}", announcement_fold: "Tap to fold the announcement", announcement_unfold: "Tap to unfold the announcement", you: " (me)", saved: "Saved", member_filter: "Find a member by name or user ID", member_filter_none: "No member matches",
  members_more: "{n} more members are not listed: find them by name or user ID.", members_all: "List them all",
  profile: "My account", my_user_id: "My user ID", credit_level: "Credit level", id_verified: "Identity verified", id_not_verified: "Identity not verified",
  verify: "Verify identity", legal_name: "Legal name", id_number: "ID card number", verify_done: "Identity verified", verify_hint: "Creating a group needs a verified identity. Your name and number are stored encrypted and shown to no one, not even you.",
  forgot_password: "Forgot the password?", reset_password: "Reset the password", resetting: "Resetting…", back_to_login: "Back to log in",
  password_reset_done: "Password reset; log in with the new one", reset_no_account: "No account has this phone number",
  logout: "Log out", logout_everywhere: "Log out everywhere", logout_everywhere_confirm: "Log this account out on every device and page? Each will have to log in again.",
  logged_out_everywhere: "Logged out on every device; please log in again", password_changed_elsewhere: "The password was changed elsewhere; please log in with the new one",
  my_logins: "Devices logged in", my_logins_hint: "The devices and browsers this account is logged in on. Log out any you do not recognise.", unknown_device: "Unknown device",
  this_device: "this device", online_now: "online", logged_in_at: "logged in {when}", end_login: "Log out", end_login_of: "Log {device} out",
  end_login_confirm: "Log \u201c{device}\u201d out? It will need the password to log in again.", login_ended: "That device is logged out",
  login_ended_elsewhere: "You logged this device out from another one; please log in again",
  change_password: "Change password", current_password: "Current password", new_password: "New password (8–128 characters)", password_changed: "Password changed; the logins on other devices have ended",
  change_password_hint: "Once changed, every login on other devices and pages ends.", delete_account: "Delete account", delete_account_hint: "Transfer or dissolve the groups you own first. Enter your password to confirm.", account_deleted: "Account deleted",
  agreement: "Platform rules and user agreement", rules_heading: "Platform rules", agreement_heading: "User agreement", save_announcement: "Save the announcement", save_settings: "Save the settings", agreement_version: "Version {v}", accept: "I have read and accept", agreement_needed: "Please read and accept the platform rules and user agreement first",
  notices: "Notices", no_notices: "No notices", no_agreement: "No rules or agreement published yet", join_now: "Join",
  n_warning: "Platform warning (group “{group}”): {text}", n_warning_deadline: "Fix it by {deadline}.",
  n_report_result_upheld: "Your report was upheld: {text}", n_report_result_rejected: "Your report was rejected: {text}",
  appeal: "Appeal", appeal_sanction_id: "Sanction id", appeal_sanction_hint: "A sanction's notice carries it; you can also press Appeal on the notice.",
  appeal_text: "Why it should be lifted", appeal_text_hint: "Up to 2,000 characters; only the platform's staff read it.",
  appeal_sent: "Appeal sent (no. {id}); you will be told the outcome", appeal_not_found: "No such sanction against you or a group you own",
  appeal_conflict: "That sanction has ended, or your appeal against it is still open", appeal_final: "Closing a group or public account and removing a post are final and cannot be appealed, nor can the sanctions of a closed group or account",
  n_appeal_upheld: "Your appeal (sanction {sid}) was upheld; the sanction is lifted: {text}", n_appeal_upheld_ended: "Your appeal (sanction {sid}) was upheld; the sanction had already ended: {text}", n_appeal_rejected: "Your appeal (sanction {sid}) was rejected; the sanction stands: {text}",
  my_reports: "My reports and appeals", my_reports_list: "My reports", my_appeals_list: "My appeals",
  no_my_reports: "You have not reported anything", no_my_appeals: "You have not appealed anything", view_my_reports: "View",
  my_sanctions_list: "Measures against me", no_my_sanctions: "No platform measure stands against you or your groups",
  measure_warning: "The platform warned group “{group}”", measure_suspend_group: "Posting in group “{group}” is suspended",
  measure_suspend_admin: "Your management powers are suspended", measure_revoke_create: "Your right to create groups is revoked",
  measure_account_warning: "The platform warned public account “{account}”",
  measure_restrict_comments: "Comments on public account “{account}” are restricted",
  measure_suspend_account: "Public account “{account}” may not publish for now",
  sanction_deadline: "put right by {time}", sanction_until: "until {time}", sanction_no_end: "no end date",
  sanction_since: "measure {sid}, since {time}", sanction_reason: "Reason: {reason}",
  sanction_overdue: "Overdue", sanction_in_force: "In force",
  n_sanction_standing: "Platform measure {sid}: {what}. Reason: {reason}", n_sanctions_standing: "{n} platform measures stand against you or your groups",
  outcome_open: "Being handled", outcome_upheld: "Upheld", outcome_rejected: "Rejected",
  report_about: "Report on {target}: {reason}", appeal_about: "Appeal against sanction {sid}", sent_at: "Sent {time}",
  handled_note: "Handled {time}: {note}", appeal_lifted: "The sanction was lifted.", appeal_ended: "Upheld; the sanction had already ended.", appeal_stands: "The sanction stands.",
  rt_message: "message {seq} in group “{group}”", rt_user: "user {user}", rt_group: "group “{group}”",
  rt_account: "public account “{account}”", rt_post: "a post of public account “{account}”", rt_comment: "a comment on public account “{account}”",
  rt_post_titled: "the post “{title}” of public account “{account}”", rt_comment_titled: "a comment on the post “{title}” of public account “{account}”",
  n_outcomes_since: "{n} of your reports and appeals were handled since you last looked",
  n_platform_since: "The platform sent {n} notices while you were away: see the notices",
  n_sanction_lifted: "The platform lifted sanction {sid}: {text}", n_sanction_lifted_group: "The platform lifted sanction {sid} on group “{group}”: {text}",
  n_sanction: "Platform sanction: {text}", n_blacklisted: "The platform closed your account: {text}", n_agreement: "The platform published its rules and user agreement (version {v}); please read and accept them.",
  n_platform: "Platform notice: {text}", n_group_handover: "The owner of “{group}” was blacklisted by the platform: you now own it as its longest-serving admin", n_content_removed: "The platform removed one of your messages in “{group}”: {text}",
  n_suspended: "The platform suspended posting in “{group}” until {until}. {reason}", n_frozen: "The platform froze the category of “{group}”: no posting until {until}. {reason}",
  n_closed: "The platform closed “{group}”: {reason}",
  n_closed_owner: "The platform closed “{group}”: its owner was blacklisted and no admin could take it over: {reason}",
  n_gone: "You are no longer in “{group}” (removed while away, dissolved or closed, or left on another device).",
  n_unsent: "Not sent to “{group}”: {texts}",
  n_dissolved: "“{group}” was dissolved by its owner.", n_dissolved_by_me: "You dissolved “{group}”.", n_removed: "You were removed from “{group}”.", n_invited: "{by} invited you to “{group}” (ID {id}).",
  n_join_approved: "Your request to join “{group}” was approved.", n_join_rejected: "Your request to join “{group}” was rejected.", n_join_group_dissolved: "The group “{group}” you asked to join was dissolved; your request lapsed.", n_join_group_closed: "The group “{group}” you asked to join was closed by the platform; your request lapsed.", n_join_pending: "Request sent; waiting for the owner or an admin.",
  n_joined: "Joined “{group}”.", n_created: "Group created, ID {id}. Give the ID to friends so they can join.", n_created_approval: "Group created, ID {id}. Friends ask to join with the ID; you or an admin approve them.",
  n_created_invite: "Group created, ID {id}. Only people invited can join: invite them in Manage, or make an invite link.",
  sys_joined: "{name} joined", sys_left: "{name} left", sys_removed: "{name} was removed", sys_role: "{name} is now {role}",
  sys_muted: "{name} is muted until {until}", sys_unmuted: "{name} was unmuted", sys_mute_all_on: "Everyone is muted", sys_mute_all_off: "Everyone may post again",
  sys_announcement: "The announcement changed", sys_updated: "Group settings changed", new_join_request: "{name} asks to join “{group}”", new_join_requests: "{n} new requests to join “{group}”",
  back: "Back", unknown_user: "user",
  e_disconnected: "Disconnected; try again in a moment", e_bad_request: "Invalid input: {reason}", e_unknown_op: "The server does not support this",
  e_unauthenticated: "Wrong username or password, or the login expired", e_wrong_password: "The password is not right", ended_logged_out: "This login was logged out (on another device or tab); please log in again", ended_password_changed: "The account's password was changed; log in with the new one", ended_too_many_logins: "Newer logins of the account replaced this one; please log in again", ended_account_deleted: "The account was cancelled", ended_account_reopened: "The platform reopened your account; please log in again",
  session_ended: "Your login has ended (logged out elsewhere, or expired); please log in again",
  logged_out_elsewhere: "You logged out on another page or device; please log in again", e_forbidden: "You are not allowed to do that", e_forbidden_because: "Not allowed: {reason}", e_not_found: "Not found (group, user or message)", e_no_such_group: "No such group: the ID does not exist, or the group was dissolved",
  e_not_member: "You are not a member of this group", e_conflict: "Conflict: {reason}", e_bad_code: "Wrong or expired code",
  e_verification_required: "Verify your identity first", e_member_cap_reached: "The group is full", e_create_cap_reached: "You own as many groups as allowed",
  e_join_cap_reached: "You are in as many groups as allowed",
  e_target_verification_required: "The group cannot pass to that user: they have not verified their identity",
  e_target_create_cap: "The group cannot pass to that user: they own as many groups as they may",
  e_target_join_cap: "They cannot join: that user is in as many groups as they may be in", e_admin_cap_reached: "The group has as many admins as allowed", e_credit_too_low: "Credit level too low",
  e_muted: "You are muted", e_group_suspended: "Posting in this group is suspended", e_group_closed: "The platform closed this group",
  e_blacklisted: "The platform closed this account", e_content_blocked: "The text contains prohibited content; not sent", e_content_blocked_unsaved: "The text contains prohibited content; not saved", e_rate_limited: "Too fast; try again in {s} s", e_rate_limited_until: "Too many for now; try again after {until}", e_request_rejected: "The group's managers declined your request; you may ask again after {until} (or be invited)",
  media_after_review: "viewable once released", e_too_large: "Too long or too large", e_field_too_long: "{what}: at most {max} characters", e_text_too_long: "At most {max} characters", e_file_too_large: "Files may be at most {size}", e_storage_quota_reached: "Your uploads have reached your storage limit; no more can be uploaded for now", e_internal: "Server error; please retry", e_banned: "You are banned from this group", e_banned_until: "You are banned from this group until {until}",
  e_generic: "Failed: {reason}",  // v2: richer messages, media, read state, bans, slow mode, invite links, the moderation log
  message: "Message", message_menu: "Message actions", message_menu_of: "Actions for the message of {name} at {time}", messages_of: "Messages of {name}", message_label: "{name} at {time}", mentions_you_said: " (mentions you)", message_said: "{name}: {text}", list_me: "You", messages_said: "{n} new messages, the last: {last}",
  notices_new: "Notices ({n} new)", cancel_file: "Cancel {name}", reply: "Reply", replying_to: "Replying to {name}:", edit: "Edit", edited: "edited", react_toggle: "Click to add or take back", react_blocked: "You cannot post now, so you cannot add or take back reactions either",
  attach: "Send a picture or file", too_many_files: "At most {n} attachments per message", upload_failed: "Uploading “{name}” failed: {reason}", download: "Download",
  upload_paused: "paused, goes on once reconnected", upload_attach_again: "the page was reopened and no longer has the file: use Edit to attach it again",
  kind_image: "Picture", kind_audio: "Audio", kind_video: "Video", kind_file: "File",
  mention_all_name: "all", mention_all_hint: "notify every member", mentioned_you: "{name} mentioned you in “{group}”", mentioned_flag: "[mentioned] ", unread_said: "{n} unread", said_sep: ", ", requests_said: "{n} join requests", requests_said_one: "1 join request", draft_flag: "[Draft] ",
  pin: "Pin", unpin: "Unpin", pinned: "Pinned", pinned_n: "{n} pinned messages", all: "All", pin_done: "Pinned", unpin_done: "Unpinned",
  search: "Search", search_found: "{n} found", search_found_one: "1 found", search_hint: "Search this group (2 characters or more)", search_short: "Type at least 2 characters", no_results: "No messages found", load_more: "Load more",
  mention_more: "{n} more: type more of the name", message_gone: "That message cannot be shown", message_too_far: "That message is too far back to open from here: scroll up through earlier messages to reach it", slow_note: "Slow mode: each member may post once every {d}.", slow_wait: "Next message in {s} s.",
  sys_banned: "{name} was removed and banned", sys_pinned: "Pinned messages changed", sys_slow_on: "Slow mode on: one message every {d}", sys_slow_off: "Slow mode off",
  n_banned: "You were removed from “{group}” and may not join again.",
  invite_after_login: "Log in or register, and you will be asked whether to join the group you were invited to.",
  invite_confirm: "You opened an invite link to a group. Join it?", invite_confirm_named: "You opened an invite link to the group “{name}” ({category}, {n} members). Join it?", invite_confirm_named_one: "You opened an invite link to the group “{name}” ({category}, 1 member). Join it?", invite_confirm_title: "Join a group", invite_failed: "Could not join with the invite link: {reason}",
  ban: "Ban", confirm_ban: "Remove {name} and keep them out?", ban_length: "For", ban_reason: "Reason", ban_reason_hint: "optional; only owner and admins see it",
  ban_1d: "1 day", ban_7d: "7 days", ban_30d: "30 days", ban_forever: "until unbanned", ban_done: "{name} is banned", ban_clean: "Also delete their messages in this group", clean: "Delete their messages", confirm_clean: "Delete every message of {name} in this group that you can see? They are hidden from every member; the texts are kept for the record.", clean_done: "{n} messages of {name} deleted", clean_partial: "{n} messages of {name} deleted; the rest were not: {why} (use “Delete their messages” in the ban list again)", done_rejected_all_some: "{n} requests declined ({m} more were handled by another manager)", log_seqs_many: "messages {seqs} and more, {n} in all", bans: "Banned users", no_bans: "Nobody is banned",
  banned_until: "until {until}", banned_forever: "until unbanned", ban_by: "by {name}", unban: "Unban", unban_done: "Unbanned",
  ban_by_id_hint: "You can also ban someone who is not in the group by user ID.",
  slow_mode: "Slow mode", slow_off: "Off", slow_every: "one message every {d}",
  n_seconds: "{n} s", n_minutes: "{n} min", n_hours: "{n} h",
  invite_links: "Invite links", invite_link_create: "Create link", invite_link_created: "Invite link created",
  invite_links_hint: "Whoever has the link or scans the code joins at once (no approval), unless banned. Only links created since this page was opened are listed.",
  uses_any: "any number of uses", uses_n: "up to {n} joins", expire_1h: "valid 1 hour", expire_1d: "valid 1 day", expire_7d: "valid 7 days", expire_never: "no expiry",
  expires_at: "expires {time}", qr_alt: "QR code of the invite link", copy: "Copy", copied: "Copied", copy_failed: "The browser did not allow copying: select the text and copy it", revoke: "Revoke", revoke_done: "Link revoked", revoked: "revoked",
  group_log: "Moderation log", group_log_open: "Open the moderation log", log_empty: "Nothing yet", platform: "Platform",
  log_until: "until", log_deadline: "deadline", log_expires_at: "expires", log_on: "on", log_off: "off",
  log_kick: "removed", log_mute: "muted", log_mute_all: "mute everyone", log_set_role: "role change", log_transfer_owner: "ownership transfer",
  log_create_group: "group created", log_set_announcement: "announcement", log_update_group: "settings", log_delete_message: "message deleted", log_delete_user_messages: "someone's messages deleted", log_approve_join: "join approved",
  log_reject_join: "join rejected", log_invite: "invited", log_ban: "banned", log_unban: "unbanned", log_set_slow_mode: "slow mode",
  log_pin_message: "pin", log_create_invite_link: "invite link created", log_revoke_invite_link: "invite link revoked", log_dissolve_group: "dissolved",
  log_warn_group: "platform warning", log_suspend_group: "platform suspension", log_close_group: "platform closure", log_lift_sanction: "sanction lifted",
  log_suspend_admin: "admin powers suspended", log_remove_message: "message removed by the platform",
  log_decide_appeal: "appeal decided by the platform", log_review_release: "message released after review",
  log_review_keep: "message kept after review", log_review_remove: "message removed after review",
  log_outcome_upheld: "appeal upheld", log_outcome_rejected: "appeal rejected",
  log_remove_term: "messages removed by the platform (banned term)", log_seqs: "messages {seqs}", log_seq: "message #{seq}", log_pinned: "pinned", log_unpinned: "unpinned",
  log_link: "link {link}", log_unmute: "unmuted", log_max_uses: "up to {n} uses", log_max_uses_one: "a single use", log_quoted: "“{text}”", log_note: "note: {note}", log_sanction: "sanction {id}",
  log_sanctions_lifted: "ended sanctions {ids}", log_item: "review item {id}",
  // v3: public accounts (accounts.js, posts.js, account_errors.js)
  accounts: "Accounts", find_account: "Find an account by ID", find_account_hint: "Enter the account's ID (9 to 12 digits).", open: "Open",
  new_account: "Open a public account", new_account_hint: "A public account is opened by a person with a verified identity, or by you for an organisation (its name and unified social credit code).",
  my_accounts: "I run", following: "Following", no_subscriptions: "You follow no account yet. Press 🔍 above to find one by ID.",
  arole_owner: "Owner", arole_editor: "Editor", astatus_active: "active", astatus_restricted: "comments turned off by the platform", astatus_suspended: "suspended by the platform", astatus_closed: "closed",
  pick_account: "Pick an account on the left, or find one by ID", loading: "Loading…", account_id: "Account ID",
  acat_news: "News", acat_government: "Government", acat_education: "Education", acat_culture: "Culture", acat_lifestyle: "Lifestyle",
  acat_business: "Business", acat_technology: "Technology", acat_other: "Other",
  label_news: "news licence", label_government: "government licence", label_verified: "verified", label_organization: "organisation", labels: "Labels", subject: "Run by", subject_individual: "a person",
  subject_organization: "an organisation", subject_org: "Organisation: {name}", subscribers: "Followers", status: "Status",
  follow: "Follow", unfollow: "Unfollow", followed: "Following “{name}”", unfollowed: "No longer following “{name}”",
  publish: "Publish", account_manage: "Account settings", report_account: "Report account", report_post: "Report post",
  org_name: "Organisation name", org_code: "Unified social credit code", org_code_hint: "18 characters, capital letters and digits", account_name: "Account name",
  account_name_hint: "1 to 30 characters; must differ from every other account (case, width and spaces do not count)", intro: "Introduction",
  account_created: "Account opened, ID {id}.",
  account_profile: "Name and introduction", editors: "Editors", editors_hint: "Editors publish, delete posts and moderate comments. Enter their user ID (under their “My account”). Only editors set since this page was opened are listed.",
  editor_add: "Make editor", editor_remove: "Remove editor", editor_added: "Editor added", editor_removed: "Editor removed", editor_on: "editor", editor_off: "removed",
  account_close: "Close account", account_close_hint: "A closed account publishes nothing more and cannot be reopened; posts and comments are kept for the retention period and the name stays taken.",
  confirm_account_close: "Close “{name}”? This cannot be undone.", account_closed_done: "“{name}” is closed",
  new_comment_here: "New comment, {who}: {text}", comment_field: "Comment", cancel_reply: "Cancel the reply", editor_user_id: "The editor's user ID",
  publish_upload_failed: "A picture failed to upload and left the list; press Publish again to publish with the pictures listed now",
  new_post: "“{name}” published: {title}", new_comment: "New comment on “{name}”, {who}: {text}", new_comment_held: "A comment on “{name}” awaits review, {who}: {text}",
  own_comment_shown: "Your comment on “{name}” is public now.", n_editor_on: "You are now an editor of the public account “{name}”.", n_editor_off: "You are no longer an editor of the public account “{name}”.",
  an_warning: "Platform warning (account “{name}”): {text}", an_suspended: "The platform suspended “{name}”: no posts and no change of its name or introduction until {until}. {text}",
  an_account_restricted: "The platform turned comments off on “{name}”: {text}", an_account_unrestricted: "Comments work again on “{name}”. {text}",
  an_account_closed: "The platform closed “{name}”: {text}", an_account_closed_by_owner: "“{name}” was closed by its owner", an_account_licensed: "The licences of “{name}” changed: {text}",
  an_account_credit: "The credit of “{name}” changed: {text}", an_post_removed: "The platform removed a post of “{name}”: {text}",
  an_sanction_lifted: "The platform lifted a sanction on “{name}”: {text}",
  an_lifted_warning: "The platform withdrew its warning to “{name}” (sanction {sid}): {reason}",
  an_lifted_restrict_comments: "The platform lifted its restriction of comments on “{name}” (sanction {sid}): {reason}",
  an_lifted_suspend_account: "The platform lifted the suspension of “{name}”'s publishing (sanction {sid}): {reason}",
  ae_verify: "Opening a public account needs a verified identity (an organisation's account is opened by a verified person too).", ae_cap: "You (or this organisation) run as many public accounts as allowed. Close one to open another.",
  ae_name_taken: "Another account has this name (closed ones count; case, width and spaces do not make a name different).", ae_barred: "The platform has barred this person or organisation from running public accounts.",
  ae_gov_org_only: "Only organisations may open government accounts.", ae_reserved: "The name (or the organisation's name) contains a name the platform reserves; it is not available.",
  ae_org_code: "The unified social credit code is not valid: 18 capital letters and digits, and the last one must be its check character.", ae_org_name: "Enter the organisation's name (1 to 100 characters).",
  ae_too_long: "The name or introduction is too long (name: 30 characters, introduction: 500).", ae_publish_wait: "At the account's credit level, the next post may go in {d}.",
  ae_suspended: "The platform suspended this account from publishing for now.", ae_closed: "This account is closed.",
  ae_license_news: "A news account publishes only after the platform grants it the news licence.", ae_license_government: "A government account publishes only after the platform grants it the government licence.",
  ae_comments_closed: "Comments are closed on this post.", ae_comments_restricted: "The platform turned comments off on this account.", ae_platform_review: "The platform is still reviewing this comment; it cannot be approved yet.",
  ae_no_user: "No such user (check the user ID).", ae_editor_owner: "The owner cannot be an editor too.", ae_editors_full: "The account has as many editors as allowed.",
  ae_no_account: "No such public account.", ae_bad_id: "An account ID is 9 to 12 digits.", ae_post_gone: "This post no longer exists or was deleted.",
  account_is_closed: "This account is closed; its posts are no longer shown.", posts: "Posts", no_posts: "No posts yet", reads_n: "{n} reads", comments_n: "{n} comments", images_n: "{n} pictures",
  reads_n_one: "1 read", comments_n_one: "1 comment", images_n_one: "1 picture",
  // (t() takes key_one when n is 1: each count that may be 1 has its singular)
  confirm_reject_all_one: "Decline the one request to join? They may not ask again for a while.", done_rejected_all_one: "1 request declined",
  done_rejected_all_some_one: "1 request declined ({m} more were handled by another manager)", members_more_one: "1 more member is not listed: find them by name or user ID.",
  clean_done_one: "1 message of {name} deleted", clean_partial_one: "1 message of {name} deleted; the rest were not: {why} (use “Delete their messages” in the ban list again)",
  too_many_files_one: "At most 1 attachment per message", new_above_one: "↑ 1 unread message",
  post_held: "in review", post_held_hint: "The platform is reviewing this post; until then only the owner and editors see it.", delete_post: "Delete post",
  confirm_post_delete: "Delete “{title}”?", post_deleted: "Post deleted",
  comments_title: "Comments", comments_closed_note: "The author turned comments off", comments_review_note: "Comments appear once the author approves them.", no_comments: "No comments yet",
  comment_placeholder: "Write a comment…", comment_send: "Comment", comment_sent: "Comment posted", comment_held: "Comment sent; it appears once approved",
  comment_awaiting_mine: "awaiting review, only you see it", comment_awaiting: "awaiting review", comment_hidden: "hidden", hide: "Hide", reply_to_name: "replying to {name}", reply_to_unseen: "replying to a comment not shown",
  confirm_comment_delete: "Delete this comment? Nobody will see it again.", moderated_approve: "Comment approved", moderated_hide: "Comment hidden", moderated_delete: "Comment deleted",
  post_title: "Title", post_body: "Text", post_comments: "Comments", cmode_open: "open", cmode_review: "shown after approval", cmode_closed: "off", post_comments_set: "Comments are now: {mode}",
  add_images: "Add pictures", images_only: "Posts carry pictures only", uploading: "Uploading pictures…", post_published: "Post published",
  post_held_toast: "The post awaits the platform's review; followers get it once approved", comments_forced_closed: "At the account's credit level this post may not carry comments; they are off.",
  // the platform's measures that follow a group's owner, credit given back, a person's blacklisting
  held_waiting: "Waiting for review", held_empty: "(empty)", held_withdraw: "Withdraw", held_withdrawn: "Withdrawn: it is no longer under review",
  held_account_name: "New name “{name}” waiting for review", held_account_intro: "New introduction waiting for review",
  held_of_account_name: "New name of the account “{name}”", held_of_account_intro: "New introduction of the account “{name}”",
  held_released: "Your text under review was approved and is now shown", held_released_not_applied: "Your text under review was approved, but it was changed since, so it is not shown",
  held_group_name: "The new group name “{name}” is held for the platform's review; until it is approved the group keeps its name.",
  held_new_group: "The group name “{name}” is held for the platform's review; until it is approved the group is called “群聊 {id}”.",
  held_announcement: "The announcement is held for the platform's review; until it is approved the group keeps its announcement.",
  held_display_name: "The display name “{name}” is held for the platform's review; until it is approved your name stays as it was.",
  held_register_name: "Registered. The display name “{name}” is held for the platform's review; until then you are shown as “{username}”.",
  e_group_suspended_until: "The platform suspended posting in this group until {until}", e_held_dissolved: "The platform suspended this group; it cannot be dissolved before {until}",
  e_held_handed_on: "The platform suspended this group; it cannot be handed on before {until}", e_held_renamed: "The platform suspended posting in this group; it cannot be renamed before {until}",
  e_held_create: "The platform suspended a group you own; you cannot create another before {until}", e_held_target: "The platform suspended a group that user owns; they cannot take on another before {until}",
  held_note: "The platform suspended posting in this group until {until}. Meanwhile no new announcement can be set and it cannot be renamed; while the platform suspends this group itself, it cannot be dissolved or handed on either, and you cannot create another group.",
  held_note_sanction: "The platform suspended this group until {until}. Meanwhile nobody can post or set a new announcement, and it cannot be renamed, dissolved or handed on; you cannot create another group either.",
  held_note_freeze: "The platform froze this group's whole category until {until}. Meanwhile nobody can post or set a new announcement, and it can be neither renamed nor moved to another category; it can still be dissolved or handed on.",
  e_held_moved: "The platform froze this group's category; it cannot move to another category before {until}",
  held_disabled: "Not while the platform suspends the group (until {until})",
  n_credit: "Your credit score is now {score} (level {level}): {reason}", n_credit_back: "The {points} credit points sanction {sid} took were given back: your score is now {score} (level {level}).",
  n_credit_other: "Your credit changed: {text}", n_blacklisted_twin: "{text} (the same verified identity as {user})",
  an_credit_changed: "The credit score of “{name}” changed by {delta} to {score} (level {level}): {reason}",
  an_credit_back: "The {points} credit points sanction {sid} took from “{name}” were given back: its score is now {score} (level {level}).",
  ae_category_frozen: "The platform has frozen this category for now: no account can be opened in it.", ae_suspended_edit: "The platform suspended this account: its name and introduction cannot change until the suspension ends.",
  ae_editor_unverified: "That user has not verified their identity: editors publish in the account's name and need a verified identity, like its owner.",
  ae_publish_verify: "Publishing needs a verified identity (editors too).", publish_suspended: "No publishing while the account is suspended", verify_to_publish: "Verify your identity to publish",
  // the message menu and the panel: confirmations, quotes one cannot see, edits over the limit, report reasons, settings changed
  recall: "Recall", confirm_recall: "Recall this message? Everyone in the group will see “{name} recalled a message” instead; it cannot be undone.",
  confirm_delete_other: "Delete this message by {name}? Everyone in the group will see “Deleted by the group's owner or an admin” instead; the deletion is recorded in the moderation log and cannot be undone.",
  quote_unavailable: "Message not available (sent before you joined, or removed)",
  edit_too_long: "The text has {n} characters; a message may have at most {max}. Shorten it, then save.", edit_empty: "A message needs some text; to take it back, recall it.",
  invite_unusable: "This invite link is unknown, used up, expired or revoked", uses_one: "up to 1 join",
  // the panel's invite links as the server lists them (invite_links): joins so far, who made each, revoked by its link id
  invite_links_listed_hint: "Whoever has the link or scans the code joins at once (no approval), unless banned. Every link of the group that still works is listed, also those other admins made; the full link shows only on the page that made it.",
  link_uses_of: "joined: {n} of {max}", link_uses: "joined: {n}", link_by: "made by {name}", link_note: "note: {note}",
  link_id: "link {id}", no_invite_links: "No invite links in force",
  invite_note: "Link note", invite_note_placeholder: "Note (optional, for the managers only)",
  rr_illegal: "Illegal content", rr_pornography: "Pornography", rr_fraud: "Fraud", rr_harassment: "Harassment", rr_rumour: "Rumours", rr_other: "Other",
  sys_renamed: "The group is now called “{name}”", sys_category: "The category is now {category}", sys_policy: "Who can join: {policy}", sys_sep: "; ",
  // notices built from their fields (app.js, accounts.js): the measure, the operator's own words, the sanction's id
  n_sanction_suspend_admin: "The platform suspended your management powers until {until} (sanction {sid}): {reason}",
  n_sanction_revoke_create: "The platform revoked your right to create groups (sanction {sid}): {reason}",
  n_lifted_suspend_admin: "The platform gave back your management powers (sanction {sid} lifted): {reason}",
  n_lifted_revoke_create: "The platform gave back your right to create groups (sanction {sid} lifted): {reason}",
  n_lifted_still_suspend_admin: "The platform lifted sanction {sid}, but another sanction keeps your management powers suspended until {until}: {reason}",
  n_lifted_still_revoke_create: "The platform lifted sanction {sid}, but another sanction still bars you from creating groups: {reason}",
  n_lifted_warning_group: "The platform withdrew its warning to “{group}” (sanction {sid}): {reason}",
  n_lifted_suspend_group_group: "The platform lifted the suspension of “{group}” (sanction {sid}): {reason}",
  n_lifted_still_suspend_group_group: "The platform lifted sanction {sid}, but posting in “{group}” stays suspended until {until}: {reason}",
  n_credit_report: "A report about you was upheld by the platform: {points} credit points taken; your score is now {score} (level {level}).",
  n_credit_sanction: "Sanction {sid} took {points} credit points: your score is now {score} (level {level}).",
  n_credit_plain: "Your credit score changed by {delta} to {score} (level {level}).",
  n_credit_blocked: "What you sent contained prohibited content and was refused: {points} credit points taken; your score is now {score} (level {level}).",
  n_credit_given_back: "{points} credit points counted while another measure was handled were not taken after all: your score is now {score} (level {level}).",
  an_credit_sanction: "Sanction {sid} took {points} credit points from “{name}”: its score is now {score} (level {level}).",
  an_credit_plain: "The credit score of “{name}” changed by {delta} to {score} (level {level}).",
  cr_message: "Your message in “{group}”", cr_group_name: "The group name you set for “{group}”", cr_announcement: "The announcement you posted in “{group}”",
  cr_display_name: "Your display name", cr_account_name: "The name you set for the public account “{name}”",
  cr_account_intro: "The intro you wrote for the public account “{name}”",
  account_text_held: "Sent for the platform's review; until it passes, the account keeps showing its current name and intro.",
  account_carried_credit: "The new account starts at the lowest credit level of the other accounts of the same person or organisation: level {level}.",
  account_carried_comments: "Comments are restricted on another account of the same person or organisation, so the new account's comments start restricted; the platform can lift it.",
  account_carried_suspended: "The platform has suspended publishing on another account of the same person or organisation, so the new account is suspended too, until that suspension ends or is lifted.",
  cr_post: "Your post “{title}” on “{name}”", cr_comment: "Your comment on “{title}” (“{name}”)",
  cr_rejected: "{what} was rejected by the platform: {reason}", cr_removed: "{what} was removed by the platform: {reason}",
  lic_news: "news licence", lic_government: "government licence", lic_verified: "organisation confirmation",
  an_licensed_grant: "The platform granted “{name}” the {label}: {reason}", an_licensed_revoke: "The platform revoked the {label} of “{name}”: {reason}",
  an_account_name_granted: "The platform granted “{name}” a reserved name: {reason}",
  an_post_removed_title: "The platform removed the post “{title}” of “{name}”: {reason}",
  // a platform measure on one's own powers (app.js, manage.js): said from the refusal's `cause` and `me`
  e_powers_suspended: "The platform suspended your management powers until {until}", e_create_revoked: "The platform revoked your right to create groups",
  powers_note: "The platform suspended your management powers until {until}. Until then you cannot manage this group: no approving, muting, removing, settings, dissolving or handing on.",
  // registration (app.js): the documented rules, checked before sending
  reg_username_rule: "A username is 3–32 letters, digits, _ . -, starting with a letter", reg_password_rule: "A password is 8 to 128 characters",
  reg_phone_rule: "Enter a mainland China mobile number (11 digits starting 13–19)", reg_display_rule: "A display name is 1 to 32 characters with at least one visible character, without control, invisible or private-use characters or more than 4 combining marks in a row, and not “已注销用户” (cancelled user)",
  // sending (app.js): a refused message stays in the chat; lengths are counted in characters
  send_waiting: "Too fast; sending again in {s} s…", send_retry: "Retry", send_edit: "Edit", send_discard: "Discard",
  char_count: "{n} / {max} characters", text_too_long: "Too long: {n} characters, at most {max}. Shorten it to send.",
  name_too_long: "Too long: {n} characters, at most {max}.",
  // the chat (app.js): new messages below the reader; the composer's hint at phone width
  new_below: "↓ {n} new messages", new_below_one: "↓ 1 new message", new_above: "↑ {n} unread messages", new_from_here: "New messages",
  composer_placeholder_short: "Message", composer_closed: "You cannot post here now",
  // a post's comments (posts.js): why no new comment can be written (comments_closed_by)
  comments_restricted_note: "The platform has restricted comments on this account: no new comments for now", comments_level_note: "At the account's current credit level no new comments can be written",
  comments_forced_platform: "The platform has restricted comments on this account; this post takes none for now.", comment_gone: "That comment no longer exists or was deleted.",
  // an answer `internal` (the server does not know whether it happened): tried again by itself
  send_unsure: "Not confirmed by the server; trying again in {s} s (it will not be sent twice)…",
  send_unknown: "the server did not confirm it got this; Retry will not send it twice",
  send_edit_unsure: "This message may have been sent already: sent unchanged it is not stored twice; changed, it goes as a new message",
  server_busy: "The server cannot sign you in right now; trying again…", too_many_connections: "This account is signed in on as many connections as it may be: close another tab or device; trying again…",
  e_too_many_connections: "This account is signed in on as many connections as it may be: close another tab or device, then sign in", upload_retrying: "the server did not answer; goes on shortly",
};
const TABLES = { "zh-CN": zh, en };
// The language chosen on this browser before; else English for a browser whose first language is
// English, Simplified Chinese for every other.
const saved = browserStore.get("qg.lang");
const firstLanguage = String((navigator.languages && navigator.languages[0]) || navigator.language || "");
let lang = saved === "en" || (saved !== "zh-CN" && /^en\b/i.test(firstLanguage)) ? "en" : "zh-CN";

export function getLang() { return lang; }
export function setLang(l) {
  lang = l === "en" ? "en" : "zh-CN";
  browserStore.set("qg.lang", lang);
  document.documentElement.lang = lang;
}
// A count of one takes the key's "_one" form where the language has one ("1 comment", not "1 comments").
export function t(key, params = {}) {
  const one = params.n === 1 && TABLES[lang][key + "_one"] !== undefined ? key + "_one" : key;
  const s = TABLES[lang][one] ?? zh[one] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (params[k] ?? "").toString());
}
// A group category's name: the configured categories beyond the default eight (groups.categories)
// have no translation here, so such a key is shown as the server names it.
export function catName(c) {
  if (!c) return "";
  const s = TABLES[lang]["cat_" + c] ?? zh["cat_" + c];
  return s ?? c;
}
// A public account's category's name, likewise (public_accounts.categories).
export function acatName(c) {
  if (!c) return "";
  const s = TABLES[lang]["acat_" + c] ?? zh["acat_" + c];
  return s ?? c;
}
// A refused request in plain language: the contract's code decides, the server's reason fills in.
export function errorText(err) {
  const code = err && err.code ? err.code : "internal";
  const key = "e_" + code;
  const raw = (err && err.reason) || "";
  const zhReason = lang === "zh-CN" ? reasonZh(raw) : null;
  const reason = zhReason || raw;
  // A measure that lasts until a time: say until when, and what it stops. The op refused says which
  // (dissolving, handing on or renaming a suspended group; opening a group, or taking one on, while
  // one's own group is suspended), never the reason's wording.
  const until = err && err.reply ? err.reply.until : undefined;
  const op = err && err.op;
  const cause = err && err.reply ? err.reply.cause : undefined;
  // Refused for the other person an act names (the heir of a transfer, the user approved or invited),
  // not for the caller: the code's own words ("verify your identity first") would blame the caller.
  const forOther = OTHER_PERSON[op];
  if (forOther && forOther[code]) return t(forOther[code]);
  // The group a join names is not there (never was, or dissolved): said as such, not "an object".
  if (code === "not_found" && op === "join_group") return t("e_no_such_group");
  // A name, a note, a reason refused for its words is not "sent" anywhere: it was not saved.
  if (code === "content_blocked" && op && !SENT_OPS.includes(op)) return t("e_content_blocked_unsaved");
  if (code === "forbidden" && cause === "powers_suspended") return t("e_powers_suspended", { until: until ? fmtTime(until) : "" });
  if (code === "forbidden" && cause === "create_revoked") return t("e_create_revoked");
  // Edit, react, a new announcement (as send): the platform's rules and agreement are not accepted yet.
  if (code === "forbidden" && err && err.reply && err.reply.agreement_version) return t("agreement_needed");
  if (code === "group_suspended" && until) {
    // (update_group: a move out of a frozen category says so in its reason; otherwise it was the name)
    const moved = op === "update_group" && cause === "category_freeze" && /frozen category/.test(err.reply.reason || "");
    const held = moved ? "e_held_moved"
      : { dissolve_group: "e_held_dissolved", transfer_owner: "e_held_handed_on", update_group: "e_held_renamed" }[op];
    return t(held || "e_group_suspended_until", { until: fmtTime(until) });
  }
  if (code === "forbidden" && until && (op === "create_group" || op === "transfer_owner")) {
    return t(op === "transfer_owner" ? "e_held_target" : "e_held_create", { until: fmtTime(until) });
  }
  // The rule alone says it: "冲突：" adds nothing, and "没有权限" would hide why.
  if ((code === "conflict" || code === "forbidden") && zhReason) return zhReason;
  // (English: the server's own words say which rule, where it gave any)
  if (code === "forbidden" && lang === "en" && raw) return t("e_forbidden_because", { reason: raw });
  if (code === "rate_limited" && cause === "connections_per_user") return t("e_too_many_connections");
  if (code === "rate_limited" && cause === "request_rejected") {
    const ms = err.reply && err.reply.retry_after_ms;
    return t("e_request_rejected", { until: fmtTime(Date.now() + (ms || 0)) });
  }
  if (code === "rate_limited") {
    const ms = err.reply && err.reply.retry_after_ms;
    // (a wait of minutes or an hour, an hour's reports: when, not "3500 s")
    // (the minute said is the one after the wait ends: "after 17:15" for 17:15:40 was refused again at 17:15:10)
    if (ms > 90_000) return t("e_rate_limited_until", { until: fmtTime(Math.ceil((Date.now() + ms) / 60_000) * 60_000) });
    return t(key, { s: ms ? Math.ceil(ms / 1000) : 1 });
  }
  const banned = err && err.reply ? err.reply.banned_until : undefined;
  if (banned !== undefined) return banned ? t("e_banned_until", { until: fmtTime(banned) }) : t("e_banned");
  // A file over the server's size limit: say the limit (the reason says it in bytes, in English).
  const maxBytes = err && err.reply ? err.reply.max_bytes : undefined;
  if (code === "too_large" && maxBytes) return t("e_file_too_large", { size: sizeText(maxBytes) });
  // A text over its limit: [ext] `field` names it, `max_chars` is the limit (the server's, as set).
  const maxChars = err && err.reply ? err.reply.max_chars : undefined;
  if (code === "too_large" && typeof maxChars === "number") {
    const what = TEXT_FIELDS[err.reply.field];
    return what ? t("e_field_too_long", { what: t(what), max: maxChars }) : t("e_text_too_long", { max: maxChars });
  }
  if (TABLES[lang][key]) return t(key, { reason });
  return t("e_generic", { reason: reason || code });
}
// The refusals of acts on another person that are about that person: op -> code -> text.
const OTHER_PERSON = {
  transfer_owner: { verification_required: "e_target_verification_required", create_cap_reached: "e_target_create_cap" },
  approve_join: { join_cap_reached: "e_target_join_cap" },
  invite: { join_cap_reached: "e_target_join_cap" },
};
// The ops whose refused text was on its way to others (the rest are saved settings, names, notes).
const SENT_OPS = ["send", "edit_message", "comment", "publish", "react"];
// The texts a refusal may name by its [ext] `field`, and the words for them.
const TEXT_FIELDS = { title: "post_title", body: "post_body", intro: "intro" };
function sizeText(n) {
  if (n < 1024) return n + " B";
  if (n < 1024 * 1024) return Math.floor(n / 1024) + " KB";
  return +(n / 1024 / 1024).toFixed(1) + " MB";
}
// A refusal kept to be shown later (a failed message of the outbox, also across a reload): its code,
// the server's reason, the op and the reply's fields errorText words it with, never words of the
// language of the moment it came. keptText says it in the language of the moment it is drawn.
// {key} is a text of this table (a reason the page itself gives).
export function keptError(e) {
  const kept = { code: (e && e.code) || "internal", reason: (e && e.reason) || "" };
  if (e && e.op) kept.op = e.op;
  const reply = {};
  for (const k of ["until", "cause", "retry_after_ms", "banned_until", "max_bytes", "max_chars", "field", "agreement_version"]) if (e && e.reply && e.reply[k] !== undefined) reply[k] = e.reply[k];
  kept.reply = reply;
  return kept;
}
export function keptText(kept) {
  if (!kept) return "";
  if (typeof kept === "string") return kept;   // saved by an earlier version of this page: as it was
  if (kept.key) return t(kept.key);
  return errorText(kept);
}
// One formatter per language and shape, made once: toLocaleString made one at every call, a tenth of
// the time of drawing a page of history.
const timeFormats = new Map();
export function fmtTime(ms) {
  const d = new Date(ms);
  const now = new Date();
  const shape = d.getFullYear() !== now.getFullYear() ? "year" : d.toDateString() !== now.toDateString() ? "day" : "time";
  const key = lang + " " + shape;
  let f = timeFormats.get(key);
  if (!f) {
    // (English: "1:05 PM", not "01:05 PM"; Chinese: "13:05")
    const opts = { hour: lang === "en" ? "numeric" : "2-digit", minute: "2-digit" };
    if (shape !== "time") Object.assign(opts, { month: "2-digit", day: "2-digit" });
    if (shape === "year") opts.year = "numeric";   // 2030/01/15 16:00, never a bare 01/15
    f = new Intl.DateTimeFormat(lang, opts);
    timeFormats.set(key, f);
  }
  return f.format(d);
}
export function fmtDate(ms) { return new Date(ms).toLocaleDateString(lang, { year: "numeric", month: "2-digit", day: "2-digit" }); }
document.documentElement.lang = lang;
