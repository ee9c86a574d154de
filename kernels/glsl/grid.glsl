// Work-group numbering shared by every shader. The host folds a launch of G groups into a
// 2D grid (x at most the device's maxComputeWorkGroupCount[0], y = ceil(G / x)), so launches
// larger than 65535 groups need no per-device sizing in the shaders; the shaders number the
// groups linearly and discard those past the real count.

//
// Shaders read their work-group size from their own specialization constants (the same ids
// as their local_size_*_id), never from gl_WorkGroupSize: on Mesa 22.3's lavapipe some
// shaders saw gl_WorkGroupSize at its unspecialized default (1) while launching the
// specialized size, and computed wrong indices.

#ifndef GRID_GLSL
#define GRID_GLSL

// Invocations per work-group of the element-wise shaders (which declare
// `layout(local_size_x_id = 8) in;`, the same constant).
layout(constant_id = 8) const uint ITEMS_PER_GROUP = 1u;

uint linear_group() { return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; }

// One invocation per item, ITEMS_PER_GROUP per work-group.
uint linear_item() { return linear_group() * ITEMS_PER_GROUP + gl_LocalInvocationID.x; }

#endif
