//! [`JsonEvent`]: a decoded JSON event.

use std::fmt;

use crate::event::{Event, RawJson};

/// A decoded JSON event: the type name, the id (if the format has one), your typed event, and
/// the raw body (as its text: see [`raw`](Self::raw)).
///
/// ```
/// use webhook_receiver::event::{Format, Received};
/// use webhook_receiver::json::JsonFormat;
///
/// #[derive(Debug, Clone, serde::Deserialize)]
/// enum MyEvent { #[serde(rename = "order.paid")] OrderPaid { amount: u64 } }
///
/// let body = br#"{"id": "evt_1", "type": "order.paid", "data": {"amount": 12}}"#;
/// let decoded = JsonFormat::<MyEvent>::new().decode(&http::HeaderMap::new(), body).unwrap();
/// let Received::Event(event) = decoded.received() else { panic!("invalid") };
/// assert!(matches!(event.typed(), Some(MyEvent::OrderPaid { amount: 12 })));
/// ```
#[derive(Debug, Clone)]
pub struct JsonEvent<E> {
    pub(super) event_name: String,
    pub(super) id: Option<String>,
    pub(super) event: Option<E>,
    pub(super) raw: RawJson,
}

impl<E> JsonEvent<E> {
    /// The event type name.
    ///
    /// ```
    /// # use webhook_receiver::event::{Format, Received};
    /// # use webhook_receiver::json::{JsonEvent, JsonFormat};
    /// # #[derive(Debug, Clone, serde::Deserialize)]
    /// # enum MyEvent { #[serde(rename = "order.paid")] OrderPaid { amount: u64 } }
    /// # fn decode(body: &[u8]) -> JsonEvent<MyEvent> {
    /// #     let decoded = JsonFormat::<MyEvent>::new().decode(&http::HeaderMap::new(), body).unwrap();
    /// #     let (Received::Event(event), _, _) = decoded.into_parts() else { panic!("invalid") };
    /// #     event
    /// # }
    /// let event = decode(br#"{"id": "1", "type": "order.paid", "data": {"amount": 12}}"#);
    /// assert_eq!(event.event_name(), "order.paid");
    /// ```
    pub fn event_name(&self) -> &str {
        &self.event_name
    }

    /// The event id, when the key source is a field or header holding one.
    ///
    /// ```
    /// # use webhook_receiver::event::{Format, Received};
    /// # use webhook_receiver::json::{JsonEvent, JsonFormat};
    /// # #[derive(Debug, Clone, serde::Deserialize)]
    /// # enum MyEvent { #[serde(rename = "order.paid")] OrderPaid { amount: u64 } }
    /// # fn decode(body: &[u8]) -> JsonEvent<MyEvent> {
    /// #     let decoded = JsonFormat::<MyEvent>::new().decode(&http::HeaderMap::new(), body).unwrap();
    /// #     let (Received::Event(event), _, _) = decoded.into_parts() else { panic!("invalid") };
    /// #     event
    /// # }
    /// let event = decode(br#"{"id": "evt_1", "type": "order.paid", "data": {"amount": 12}}"#);
    /// assert_eq!(event.id(), Some("evt_1"));
    /// ```
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// Your typed event, or `None` for a type your enum has no variant for (see
    /// [`raw`](Self::raw) for its data).
    ///
    /// ```
    /// # use webhook_receiver::event::{Format, Received};
    /// # use webhook_receiver::json::{JsonEvent, JsonFormat};
    /// # #[derive(Debug, Clone, serde::Deserialize)]
    /// # enum MyEvent { #[serde(rename = "order.paid")] OrderPaid { amount: u64 } }
    /// # fn decode(body: &[u8]) -> JsonEvent<MyEvent> {
    /// #     let decoded = JsonFormat::<MyEvent>::new().decode(&http::HeaderMap::new(), body).unwrap();
    /// #     let (Received::Event(event), _, _) = decoded.into_parts() else { panic!("invalid") };
    /// #     event
    /// # }
    /// let paid = decode(br#"{"id": "1", "type": "order.paid", "data": {"amount": 12}}"#);
    /// assert!(matches!(paid.typed(), Some(MyEvent::OrderPaid { amount: 12 })));
    /// let refunded = decode(br#"{"id": "2", "type": "order.refunded", "data": {}}"#);
    /// assert!(refunded.typed().is_none()); // no variant: still an event
    /// ```
    pub fn typed(&self) -> Option<&E> {
        self.event.as_ref()
    }

    /// The whole body as received, as its JSON text (for unknown types, logging, or archiving);
    /// [`RawJson::parse`] reads it into your type, [`RawJson::to_value`] into a tree. It is
    /// kept as text because a queued event would hold a tree for as long as it waits, and a
    /// tree takes many times the bytes of its text.
    ///
    /// ```
    /// # use webhook_receiver::event::{Format, Received};
    /// # use webhook_receiver::json::{JsonEvent, JsonFormat};
    /// # #[derive(Debug, Clone, serde::Deserialize)]
    /// # enum MyEvent { #[serde(rename = "order.paid")] OrderPaid { amount: u64 } }
    /// # fn decode(body: &[u8]) -> JsonEvent<MyEvent> {
    /// #     let decoded = JsonFormat::<MyEvent>::new().decode(&http::HeaderMap::new(), body).unwrap();
    /// #     let (Received::Event(event), _, _) = decoded.into_parts() else { panic!("invalid") };
    /// #     event
    /// # }
    /// let event = decode(br#"{"id": "2", "type": "order.refunded", "data": {"amount": 5}}"#);
    /// assert_eq!(event.raw().get(), r#"{"id": "2", "type": "order.refunded", "data": {"amount": 5}}"#);
    /// let body = event.raw().to_value().unwrap();
    /// assert_eq!((&body["type"], &body["data"]["amount"]), (&"order.refunded".into(), &5.into()));
    /// ```
    pub fn raw(&self) -> &RawJson {
        &self.raw
    }

    /// Consumes `self`, returning your typed event (`None` for an unknown type).
    ///
    /// ```
    /// # use webhook_receiver::event::{Format, Received};
    /// # use webhook_receiver::json::{JsonEvent, JsonFormat};
    /// # #[derive(Debug, Clone, serde::Deserialize)]
    /// # enum MyEvent { #[serde(rename = "order.paid")] OrderPaid { amount: u64 } }
    /// # fn decode(body: &[u8]) -> JsonEvent<MyEvent> {
    /// #     let decoded = JsonFormat::<MyEvent>::new().decode(&http::HeaderMap::new(), body).unwrap();
    /// #     let (Received::Event(event), _, _) = decoded.into_parts() else { panic!("invalid") };
    /// #     event
    /// # }
    /// let event = decode(br#"{"id": "1", "type": "order.paid", "data": {"amount": 12}}"#);
    /// let Some(MyEvent::OrderPaid { amount }) = event.into_typed() else { panic!("unknown") };
    /// assert_eq!(amount, 12);
    /// ```
    pub fn into_typed(self) -> Option<E> {
        self.event
    }
}

impl<E: Clone + Send + Sync + fmt::Debug + 'static> Event for JsonEvent<E> {
    fn event_name(&self) -> &str {
        &self.event_name
    }
}
