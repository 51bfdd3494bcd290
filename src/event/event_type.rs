//! [`EventType`]: a typed event type, the name handlers are routed by and how to reach its
//! payload.

use std::fmt;

/// A typed event type of an event enum `E` whose payload is `P`: the name handlers are routed by
/// and how to reach the payload. Handlers registered with it get `P` directly, no `match`.
///
/// Providers ship constants (e.g. [`chirp::SMS_DELIVERED`](crate::chirp::SMS_DELIVERED)); for
/// your own enum, one line per variant:
///
/// ```
/// use webhook_receiver::{Event, EventType};
///
/// #[derive(Clone, Debug)]
/// struct User { id: String }
/// #[derive(Clone, Debug)]
/// enum MyEvent { UserCreated(User), Other }
/// impl Event for MyEvent {
///     fn event_name(&self) -> &str {
///         match self { Self::UserCreated(_) => "user.created", Self::Other => "other" }
///     }
/// }
///
/// const USER_CREATED: EventType<MyEvent, User> = EventType::new("user.created", |e| match e {
///     MyEvent::UserCreated(u) => Some(u),
///     _ => None,
/// });
///
/// let e = MyEvent::UserCreated(User { id: "u1".into() });
/// assert_eq!(USER_CREATED.payload(&e).unwrap().id, "u1");
/// assert_eq!(USER_CREATED.name(), "user.created");
/// ```
///
/// Handlers take their payload by value: each gets a clone, and the dispatcher keeps the event,
/// for the handler's retry or the dead-letter hook if it fails.
pub struct EventType<E, P> {
    name: &'static str,
    extract: fn(&E) -> Option<&P>,
}

impl<E, P> EventType<E, P> {
    /// Declares an event type by its wire name and its payload accessor.
    ///
    /// ```
    /// use webhook_receiver::EventType;
    ///
    /// #[derive(Clone, Debug)]
    /// enum Shape { Circle(f64), Square(f64) }
    /// const CIRCLE: EventType<Shape, f64> = EventType::new("circle", |s| match s {
    ///     Shape::Circle(r) => Some(r),
    ///     Shape::Square(_) => None,
    /// });
    /// assert_eq!(CIRCLE.payload(&Shape::Circle(2.0)), Some(&2.0));
    /// ```
    pub const fn new(name: &'static str, extract: fn(&E) -> Option<&P>) -> Self {
        Self { name, extract }
    }

    /// The wire name.
    ///
    /// ```
    /// # use webhook_receiver::EventType;
    /// # #[derive(Clone, Debug)]
    /// # enum Shape { Circle(f64), Square(f64) }
    /// # const CIRCLE: EventType<Shape, f64> = EventType::new("circle", |s| match s {
    /// #     Shape::Circle(r) => Some(r),
    /// #     Shape::Square(_) => None,
    /// # });
    /// const NAME: &str = CIRCLE.name(); // usable in const contexts
    /// assert_eq!(NAME, "circle");
    /// ```
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The payload, if `event` is of this type.
    ///
    /// ```
    /// # use webhook_receiver::EventType;
    /// # #[derive(Clone, Debug)]
    /// # enum Shape { Circle(f64), Square(f64) }
    /// # const CIRCLE: EventType<Shape, f64> = EventType::new("circle", |s| match s {
    /// #     Shape::Circle(r) => Some(r),
    /// #     Shape::Square(_) => None,
    /// # });
    /// assert_eq!(CIRCLE.payload(&Shape::Circle(1.5)), Some(&1.5));
    /// assert_eq!(CIRCLE.payload(&Shape::Square(1.5)), None);
    /// ```
    pub fn payload<'a>(&self, event: &'a E) -> Option<&'a P> {
        (self.extract)(event)
    }
}

impl<E, P> Clone for EventType<E, P> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<E, P> Copy for EventType<E, P> {}

impl<E, P> fmt::Debug for EventType<E, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("EventType").field(&self.name).finish()
    }
}
