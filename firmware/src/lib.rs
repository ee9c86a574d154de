//! Board-management firmware for zkbox accelerator boards.
//!
//! **Owns**: `no_std` drivers for temperature, power and fan controllers written against
//! `embedded-hal` traits (generic over `I2c` + `DelayNs`, register maps as named constants,
//! no allocation), the thermal control loop, and a Linux binding that feeds telemetry to the
//! host.
//!
//! **Must not depend on** anything but `embedded-hal`-family crates: it runs on a board
//! controller with no operating system and no allocator.
//!
//! Status: the drivers arrive with the firmware issue; this crate is the empty `no_std` seam.
#![no_std]
