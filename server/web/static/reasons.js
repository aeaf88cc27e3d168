// The server's reasons in Chinese. The contract's code says what went wrong; for `bad_request` and
// `conflict` the reason says which rule, in English. These patterns follow the reasons the server
// gives for what a person can do in this client (server/handlers, governance, protocol); a reason
// not listed here is shown as the server wrote it, so a new one is never hidden, only untranslated.
const FIELDS = {
  display_name: "昵称", name: "名称", text: "消息", announcement: "群公告", title: "标题", body: "正文",
  intro: "简介", reason: "理由", detail: "说明", emoji: "表情", group_id: "群号", username: "用户名",
  password: "密码", phone: "手机号", legal_name: "真实姓名", id_number: "身份证号", code: "验证码", query: "搜索内容", invite_code: "邀请码", org_name: "组织名称",
};
const field = (f) => FIELDS[f] || f;
const CATEGORIES = {
  family: "家庭", friends: "朋友", work: "工作", study: "学习", interest: "兴趣", business: "商务",
  public_affairs: "公共事务", other: "其他",
};

// A file type in words a person reads (a refused upload named it as "application/vnd.openxmlformats-
// officedocument.wordprocessingml.document"): the kind of file, and its format where that helps.
const KINDS = { image: "图片", audio: "音频", video: "视频", text: "文本" };
const FORMATS = {
  "application/pdf": "PDF", "application/msword": "Word 文档", "application/zip": "压缩包",
  "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word 文档",
  "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "Excel 表格",
  "application/vnd.ms-excel": "Excel 表格",
  "application/vnd.openxmlformats-officedocument.presentationml.presentation": "PowerPoint 演示文稿",
};
function kindOf(mime) {
  let m = String(mime).toLowerCase();
  // (a reason quotes at most 64 characters of what the client sent, then "…": a longer type is
  // known by what is left of it)
  if (m.endsWith("…")) m = Object.keys(FORMATS).find((k) => k.startsWith(m.slice(0, -1))) || m;
  if (FORMATS[m]) return FORMATS[m];
  const [major, minor] = m.split("/");
  return KINDS[major] ? `${KINDS[major]}（${(minor || "").toUpperCase()}）` : (m || "未知类型");
}
// The allowed types as kinds: "图片（JPEG、PNG、GIF）、PDF".
function kindsOf(list) {
  const groups = new Map();
  for (const mime of String(list).split(",").map((x) => x.trim().toLowerCase()).filter(Boolean)) {
    const [major, minor] = mime.split("/");
    const name = FORMATS[mime] || (KINDS[major] ? KINDS[major] : mime);
    if (!groups.has(name)) groups.set(name, []);
    if (!FORMATS[mime] && KINDS[major] && minor) groups.get(name).push(minor.toUpperCase());
  }
  return [...groups].map(([name, subs]) => (subs.length ? `${name}（${subs.join("、")}）` : name)).join("、");
}

// [pattern, (match) => Chinese text]; the first that matches wins.
const ZH = [
  // conflict
  [/^that username is taken$/, () => "该用户名已被占用"],
  [/^that phone number already has an account$/, () => "该手机号已注册过账号"],
  [/^identity is already verified for this account$/, () => "该账号已完成实名认证"],
  [/^this ID number is already used by as many accounts as allowed$/, () => "该身份证号可认证的账号数已达上限"],
  [/^(this|that) account (is already|was) cancelled$/, () => "该账号已注销"],
  [/^that phone number belongs to a cancelled account/, () => "该手机号属于已注销的账号，记录保存期满前不能再注册"],
  [/^a group may pin at most (\d+) messages; unpin one first$/, (m) => `一个群最多置顶 ${m[1]} 条消息，请先取消一条置顶`],
  [/^transfer or dissolve the groups you own first: (.*)$/, (m) => `请先转让或解散你担任群主的群：${m[1]}`],
  [/^close the public accounts you own first: (.*)$/, (m) => `请先注销你运营的公众号：${m[1]}`],
  [/^that is not the current version/, () => "平台规则已更新，请重新阅读后再同意"],
  [/^that account name is taken$/, () => "这个名称已被其他公众号使用"],
  [/^that account name reads as the name of another account$/, () => "这个名称与其他公众号的名称形近（其中有形似拉丁字母的其他文字字母），不能使用"],
  [/^an account has at most (\d+) editors$/, (m) => `一个公众号最多 ${m[1]} 名编辑`],
  [/^a group may have at most (\d+) invite links that are not revoked, expired or used up \(also those of former managers, which work again if they manage it again\); revoke one first$/, (m) => `一个群最多 ${m[1]} 个未撤销、未过期、未用完的邀请链接（包括已不再管理本群的人创建的链接：他们重新成为管理员后链接会恢复），请先撤销一个`],
  [/^that user is already a member$/, () => "该用户已是群成员"],
  [/^the group's ownership changed meanwhile$/, () => "群主刚刚变更，请刷新后重试"],
  [/^the new owner is no longer a member$/, () => "新群主已不在群内"],
  [/^at most (\d+) different reactions per message$/, (m) => `每条消息最多 ${m[1]} 种表情回应`],
  [/^you already have an open appeal against sanction (\S+)$/, (m) => `你对处罚 ${m[1]} 的申诉正在处理中`],
  [/^sanction (\S+) was lifted meanwhile$/, (m) => `处罚 ${m[1]} 已经解除`],
  // forbidden (a reason more precise than the code's own words)
  [/^that user is banned from this group$/, () => "对方已被禁止加入本群，请先解除禁止"],
  [/^this group is joined by invitation only$/, () => "该群仅限邀请加入，请联系群主或管理员邀请你"],
  [/^\w+: admins cannot act on the owner or other admins$/, () => "管理员不能对群主或其他管理员这样做"],
  [/^the owner cannot \w+ themselves$/, () => "群主不能对自己这样做"],
  [/^the platform has frozen the category (\S+) for now/, (m) => `平台已暂时冻结「${CATEGORIES[m[1]] || m[1]}」类别：现在不能在该类别创建群，也不能把群改到该类别`],
  // bad_request
  [/^a group name is 1 to (\d+) printable characters$/, (m) => `群名称须为 1–${m[1]} 个可打印字符`],
  [/^(\w+) is 1 to (\d+) printable characters$/, (m) => `${field(m[1])}须为 1–${m[2]} 个可打印字符`],
  // governance/identity.py and governance/names.py: a username and a phone number (registration), a
  // display name (the profile), a password, a legal name and an ID number
  [/^username must be (\d+)-(\d+) characters of letters, digits, '_', '\.', '-', starting with a letter$/,
    (m) => `用户名须为 ${m[1]}–${m[2]} 个字符，只能包含字母、数字和 _ . -，并以字母开头`],
  [/^phone must be a mainland China mobile number \(11 digits starting 13-19\)$/,
    () => "手机号须为中国大陆手机号码（以 13–19 开头的 11 位数字）"],
  [/^(\w+) must be (\d+)-(\d+) characters$/, (m) => `${field(m[1])}须为 ${m[2]}–${m[3]} 个字符`],
  [/^(\w+) must be (\d+) characters$/, (m) => `${field(m[1])}须为 ${m[2]} 个字符`],
  [/^(\w+) must not contain control or invisible formatting characters$/, (m) => `${field(m[1])}不能含控制字符或不可见的格式字符`],
  // governance/names.py: a display name and a group name
  [/^(\w+) must not contain private-use or unassigned characters$/, (m) => `${field(m[1])}不能含私用区或未分配的字符`],
  [/^(\w+) needs at least one visible character$/, (m) => `${field(m[1])}至少需要一个可见字符`],
  [/^(\w+) has more than (\d+) combining marks in a row$/, (m) => `${field(m[1])}中一个字符上最多叠加 ${m[2]} 个组合符号`],
  [/^display_name is reserved for cancelled accounts$/, () => "这个昵称留给已注销的账号，不能使用"],
  // governance/names.py: the stand-ins the platform shows for a name it holds back (用户 u…, 群聊 …)
  [/^(\w+) is the form the platform shows for a user whose own name it holds back/, (m) => `${field(m[1])}不能是“用户”加用户 ID：平台用它显示名称被暂时隐去的用户，会被误认为那位用户`],
  [/^a group name may not be 群聊 and a group id/, () => "群名称不能是“群聊”加群号：平台用它显示名称被暂时隐去的群"],
  [/^legal_name may contain only letters, spaces and middle dots$/, () => "真实姓名只能包含文字、空格和间隔号（·）"],
  [/^legal_name must contain letters$/, () => "真实姓名须包含文字"],
  [/^id_number must be 17 digits followed by a digit or X$/, () => "身份证号须为 17 位数字加 1 位数字或 X"],
  [/^id_number has an unknown region code$/, () => "身份证号的地区码不存在"],
  [/^id_number has an invalid birth date$/, () => "身份证号中的出生日期无效"],
  [/^id_number has a birth date before (\d+)$/, (m) => `身份证号中的出生日期早于 ${m[1]} 年`],
  [/^id_number has a birth date in the future$/, () => "身份证号中的出生日期晚于今天"],
  [/^id_number check digit does not match$/, () => "身份证号校验位不正确"],
  [/^(\w+) is empty$/, (m) => `${field(m[1])}不能为空`],
  [/^(\w+) shows nothing$/, (m) => `${field(m[1])}不能只有空白或不可见字符`],
  [/^(\w+) contains a NUL character$/, (m) => `${field(m[1])}含有不允许的字符`],
  [/^reason and detail may not contain a NUL character$/, () => "理由和说明含有不允许的字符"],
  [/^reason is 1 to (\d+) characters$/, (m) => `理由须为 1–${m[1]} 个字符`],
  [/^text is required: say why the sanction should be lifted$/, () => "请写明申诉理由"],
  [/^mentions must be members of the group: (.*)$/, (m) => `只能 @ 本群成员：${m[1]}`],
  [/^a search needs at least (\d+) characters$/, (m) => `搜索内容至少 ${m[1]} 个字符`],
  [/^'([^']*)' is not an allowed type \((.*)\)$/, (m) => `不能发送这种文件（${kindOf(m[1])}）。可以发送：${kindsOf(m[2])}`],
  [/^the bytes are not (\S+)/, (m) => `文件内容与类型 ${m[1]} 不符`],
  [/^the image's width and height cannot be read/, () => "无法读取图片的宽高"],
  [/^the (\S+) file's structure cannot be read/, () => "无法读取这张图片的结构，请换一张或重新保存后再发"],
  [/^name must be a file name/, () => "文件名不合法（不能含目录或控制字符）"],
  [/^seconds must be 0 \(until unbanned\) to (\d+)$/, (m) => `时长须为 0（直到解除）到 ${m[1]} 秒`],
  [/^seconds must be 0 \(unmute\) to (\d+)$/, (m) => `禁言时长须为 0（解除禁言）到 ${m[1]} 秒`],
  [/^seconds must be 0 \(off\) to (\d+)$/, (m) => `慢速模式间隔须为 0（关闭）到 ${m[1]} 秒`],
  [/^max_uses must be 1 to (\d+)$/, (m) => `可用次数须为 1–${m[1]}`],
  [/^expires_in_seconds must be 1 to (\d+)$/, (m) => `有效期须为 1–${m[1]} 秒`],
  [/^emoji must/, () => "表情不合法"],
  [/^update_group needs name, category or join_policy$/, () => "请至少修改一项设置"],
  [/^category must be one of: (.*)$/, () => "请选择一个有效的类别"],
  [/^role must be 'admin' or 'member'$/, () => "角色只能是管理员或成员"],
  [/^a frame is at most (\d+) bytes$/, (m) => `内容过长（最多 ${m[1]} 字节）`],
  [/^\w+: missing argument '(\w+)'/, (m) => `缺少${field(m[1])}`],
  [/^\w+: '(\w+)' is longer than (\d+)$/, (m) => `${field(m[1])}过长（最多 ${m[2]} 个字符）`],
  [/^\w+: '(\w+)' must be /, (m) => `${field(m[1])}格式不正确`],
];

// The reason in Chinese, or null when it is not one of the patterns above.
export function reasonZh(reason) {
  if (!reason) return null;
  for (const [re, fn] of ZH) {
    const m = re.exec(reason);
    if (m) return fn(m);
  }
  return null;
}
