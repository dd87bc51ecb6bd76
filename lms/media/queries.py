"""Reads for media. An asset is visible to its owner and to admins of its owning org's subtree."""

from __future__ import annotations

from sqlalchemy import func, or_, select

from lms.accounts.models import Organization, User
from lms.accounts.permissions import AdminScope, admin_scope
from lms.core.db import db
from lms.core.errors import NotFound
from lms.core.pagination import Page
from lms.media.errors import UploadNotFoundError
from lms.media.models import MediaAsset, MediaUpload, UploadStatus

MAX_ID = 2**31 - 1


def get_upload(actor: User, upload_id: int) -> MediaUpload:
    upload = db.session.get(MediaUpload, upload_id) if 0 < upload_id <= MAX_ID else None
    if upload is None or upload.owner_id != actor.id:
        raise UploadNotFoundError()
    return upload


def open_uploads(actor: User) -> list[MediaUpload]:
    return list(
        db.session.scalars(
            select(MediaUpload)
            .where(MediaUpload.owner_id == actor.id, MediaUpload.status == UploadStatus.UPLOADING)
            .order_by(MediaUpload.id.desc())
            .limit(20)
        )
    )


def org_path_of(asset: MediaAsset) -> str:
    return db.session.scalar(select(Organization.path).where(Organization.id == asset.org_id)) or ""


def get_manageable_asset(actor: User, asset_id: int) -> tuple[MediaAsset, str]:
    """The asset and its org path, if the actor owns it or administers its org; otherwise 404."""
    asset = db.session.get(MediaAsset, asset_id) if 0 < asset_id <= MAX_ID else None
    if asset is None:
        raise NotFound()
    path = org_path_of(asset)
    if asset.owner_id != actor.id and not admin_scope(actor).covers_path(path):
        raise NotFound()
    return asset, path


def find_asset(asset_id: int) -> MediaAsset | None:
    return db.session.get(MediaAsset, asset_id) if 0 < asset_id <= MAX_ID else None


def list_assets(actor: User, scope: AdminScope, *, page: int, per_page: int = 20, mine: bool = True) -> Page:
    """The actor's own media, or (``mine=False``, admins) every asset owned within their subtrees."""
    stmt = select(MediaAsset).order_by(MediaAsset.id.desc())
    if mine or not scope.is_admin:
        stmt = stmt.where(MediaAsset.owner_id == actor.id)
    elif scope.sql_paths is not None:
        stmt = stmt.join(Organization, Organization.id == MediaAsset.org_id).where(
            or_(*(Organization.path.startswith(p, autoescape=True) for p in scope.sql_paths))
        )
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    items = db.session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)).all()
    return Page(list(items), total, page, per_page)


def usable_assets(actor: User, ids: list[int]) -> dict[int, MediaAsset]:
    """Assets the actor may put into a course: their own, or within their admin scope."""
    if not ids:
        return {}
    scope = admin_scope(actor)
    rows = db.session.execute(
        select(MediaAsset, Organization.path)
        .join(Organization, Organization.id == MediaAsset.org_id)
        .where(MediaAsset.id.in_([i for i in ids if 0 < i <= MAX_ID]))
    ).all()
    return {a.id: a for a, path in rows if a.owner_id == actor.id or scope.covers_path(path)}
