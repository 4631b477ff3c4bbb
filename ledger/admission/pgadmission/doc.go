// Package pgadmission is admission's Postgres half: PostgresTags, the
// admission.TagStore of the server (tables admission_tags and
// admission_free), shared by every server process so that a tag is admitted
// once network-wide, and ScopeTags, the tags a scope's tag filter publishes.
// Use it in the server; a relay that verifies locally uses
// admission.MemoryTags and links no database driver.
package pgadmission
