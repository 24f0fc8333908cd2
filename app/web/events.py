"""Audit events as a person reads them on the timeline: a Chinese name per type and one line of detail."""

from typing import Any

from app.channels import label as channel_label
from app.notify.templates import LEVEL_NAMES

EVENT_NAMES = {
    "warning.issued": "发布预警",
    "warning.updated": "预警更新",
    "warning.cancelled": "预警解除/撤回",
    "warning.expired": "预警到期",
    "call.created": "生成呼叫",
    "message.sent": "消息发出",
    "message.delivered": "消息送达",
    "message.failed": "消息失败",
    "call.retried": "提前重呼",
    "call.acknowledged": "应答",
    "call.unanswered": "超时未应答",
    "call.escalated": "逐级上报",
    "call.cancelled": "呼叫取消",
    "region.reached": "区域已叫应",
    "region.unreachable": "区域无法叫应",
    "feedback.received": "收到反馈",
    "reply.received": "收到回复",
    "cap.received": "收到CAP消息",
    "hazard.reported": "险情报告",
    "hazard.received": "接报",
    "hazard.dispatched": "吹哨",
    "hazard.reported_in": "部门报到",
    "hazard.escalated": "上报督办",
    "hazard.escalation_taken": "督办已接",
    "hazard.handling": "处置中",
    "hazard.resolved": "办结",
    "hazard.evaluated": "末端评价",
    "hazard.reopened": "重新交办",
    "hazard.unreachable": "无人接报",
    "hazard.rerouted": "被叫人已离岗，重新呼叫",
}
METHODS = {"link": "链接", "sms_reply": "短信回复", "voice_key": "语音按键", "manual": "人工登记",
           "confirmed": "人工确认", "phone": "电话", "in_person": "当面", "radio": "电台", "other": "其他"}  # fmt: skip
STAGES = {"initial": "首报", "follow_up": "续报", "final": "终报"}
CLOSE_KINDS = {"lifted": "解除", "withdrawn": "撤回"}
VIA = {"duty_officer": "值班员", "duty_leader": "带班领导", "supervisor": "包保责任人", "rank_1": "一号责任人"}
MESSAGE_KINDS = {
    "alert": "预警",
    "escalation": "上报",
    "lifting": "解除通知",
    "withdrawal": "撤回通知",
    "hazard": "险情",
}
RATINGS = {"satisfied": "满意", "unsatisfied": "不满意"}


def _join(*parts: Any) -> str:
    return "，".join(str(part) for part in parts if part not in (None, "", [], False))


def describe(event_type: str, data: dict[str, Any]) -> str:
    """One line of what the event says; the record itself stays in the API and the CSV."""
    d = data
    if event_type == "warning.issued":
        uncovered = len(d.get("uncovered_area_codes") or [])
        return _join(
            f"{d.get('hazard', '')}{LEVEL_NAMES.get(d.get('level', ''), '')}预警", f"呼叫{d.get('calls', 0)}人",
            f"目标区域{d.get('targeted_regions', 0)}个", f"无责任人{uncovered}个" if uncovered else "",
            "演练" if d.get("mode") == "exercise" else "",
        )  # fmt: skip
    if event_type == "warning.cancelled":
        return _join(CLOSE_KINDS.get(d.get("kind", ""), d.get("kind")), d.get("reason"))
    if event_type == "warning.updated":
        return f"被新预警 {d.get('superseded_by', '')} 取代"
    if event_type == "call.created":
        return _join(d.get("name"), d.get("role"), d.get("phone"))
    if event_type == "message.sent":
        channels = "、".join(channel_label(m.get("channel", "")) for m in d.get("messages", []))
        return _join(f"第{d.get('attempt')}次" if d.get("attempt") else "", MESSAGE_KINDS.get(d.get("kind", "")),
                     channels, d.get("to"))  # fmt: skip
    if event_type in ("message.delivered", "message.failed"):
        return _join(channel_label(d.get("channel", "")), d.get("error"))
    if event_type == "call.acknowledged":
        return _join(METHODS.get(d.get("method", ""), d.get("method")), METHODS.get(d.get("how", "")), d.get("note"),
                     "超时" if d.get("late") else "")  # fmt: skip
    if event_type == "region.reached":
        return _join(METHODS.get(d.get("by", ""), d.get("by")), METHODS.get(d.get("method", "")), d.get("note"))
    if event_type == "call.escalated":
        to = d.get("to") or {}
        gap = "值班空档，转一号责任人" if d.get("duty_gap") else ""
        return _join(
            f"上报至{to.get('name', '')}", VIA.get(d.get("via", "")), gap, to.get("phone"),
            f"涉及{len(d.get('about_region_codes') or [])}个区域",
        )  # fmt: skip
    if event_type == "call.unanswered":
        return f"已呼叫{d.get('attempts', 0)}次"
    if event_type == "call.retried":
        return _join(f"第{d.get('attempt')}次", d.get("reason"))
    if event_type == "call.cancelled":
        return _join(d.get("reason"), f"{d['calls']}个呼叫" if "calls" in d else "")
    if event_type == "feedback.received":
        moved = f"累计转移{d['evacuated']}人" if d.get("evacuated") is not None else ""
        return _join(STAGES.get(d.get("stage", ""), d.get("stage")), d.get("actions"), moved, d.get("note"))
    if event_type == "reply.received":
        return _join(channel_label(d.get("channel", "")), d.get("text"), d.get("digits"))
    if event_type == "hazard.reported":
        return _join(d.get("category"), d.get("description"), "紧急" if d.get("urgent") else "")
    if event_type == "hazard.dispatched":
        names = "、".join(str(x.get("name", "")) for x in d.get("departments") or [])
        return _join(names, d.get("instruction"), f"时限{int(d.get('deadline_s') or 0) // 60}分钟")
    if event_type == "hazard.received":
        return _join(METHODS.get(d.get("method", ""), d.get("method")))
    if event_type in ("hazard.reported_in", "hazard.escalation_taken"):
        return _join(
            d.get("department"), METHODS.get(d.get("method", ""), d.get("method")), "超时" if d.get("late") else ""
        )
    if event_type == "hazard.escalated":
        return _join(d.get("department"), "上报至" + "、".join(d.get("to") or []) if d.get("to") else "")
    if event_type == "hazard.evaluated":
        return _join(RATINGS.get(d.get("rating", ""), d.get("rating")), d.get("note"))
    if event_type in ("hazard.resolved", "hazard.handling", "hazard.reopened"):
        return _join(d.get("note"))
    if event_type == "region.unreachable":
        return "逐级上报已无人可呼叫"
    return _join(*(f"{key}: {value}" for key, value in d.items() if isinstance(value, str | int | float)))
