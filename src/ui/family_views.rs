//! Placeholder: replaced by the family views.
use super::studio::Studio;
use crate::insight::InsightReply;

impl Studio {
    pub(super) fn family_reply(&mut self, _reply: InsightReply) {}
}
