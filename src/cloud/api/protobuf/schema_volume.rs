//! Protobuf tables of a pod's volumes (k8s.io/api core/v1 generated.proto):
//! the sources an edge can mount (hostPath, emptyDir, secret, configMap,
//! downwardAPI, projected, persistentVolumeClaim, nfs, image). Cloud-disk
//! and CSI sources are not tabled, so a body holding one is refused with
//! its path.
//!
//! Owns: these tables. Must not read bytes or build JSON.

use super::schema::Ty::*;
use super::schema::{f, inline, list, ptr, Msg};

pub static HOST_PATH_VOLUME_SOURCE: Msg = Msg { name: "HostPathVolumeSource", fields: &[ptr(1, "path", Str), ptr(2, "type", Str)] };

pub static EMPTY_DIR_VOLUME_SOURCE: Msg = Msg { name: "EmptyDirVolumeSource", fields: &[f(1, "medium", Str), ptr(2, "sizeLimit", Quantity)] };

pub static KEY_TO_PATH: Msg = Msg { name: "KeyToPath", fields: &[ptr(1, "key", Str), ptr(2, "path", Str), ptr(3, "mode", Int)] };

pub static SECRET_VOLUME_SOURCE: Msg = Msg {
    name: "SecretVolumeSource",
    fields: &[f(1, "secretName", Str), list(2, "items", Msg(&KEY_TO_PATH)), ptr(3, "defaultMode", Int), ptr(4, "optional", Bool)],
};

pub static NFS_VOLUME_SOURCE: Msg = Msg { name: "NFSVolumeSource", fields: &[ptr(1, "server", Str), ptr(2, "path", Str), f(3, "readOnly", Bool)] };

pub static PERSISTENT_VOLUME_CLAIM_VOLUME_SOURCE: Msg =
    Msg { name: "PersistentVolumeClaimVolumeSource", fields: &[ptr(1, "claimName", Str), f(2, "readOnly", Bool)] };

pub static OBJECT_FIELD_SELECTOR: Msg = Msg { name: "ObjectFieldSelector", fields: &[f(1, "apiVersion", Str), ptr(2, "fieldPath", Str)] };

pub static RESOURCE_FIELD_SELECTOR: Msg =
    Msg { name: "ResourceFieldSelector", fields: &[f(1, "containerName", Str), ptr(2, "resource", Str), f(3, "divisor", Quantity)] };

pub static DOWNWARD_API_VOLUME_FILE: Msg = Msg {
    name: "DownwardAPIVolumeFile",
    fields: &[
        ptr(1, "path", Str),
        ptr(2, "fieldRef", Msg(&OBJECT_FIELD_SELECTOR)),
        ptr(3, "resourceFieldRef", Msg(&RESOURCE_FIELD_SELECTOR)),
        ptr(4, "mode", Int),
    ],
};

pub static DOWNWARD_API_VOLUME_SOURCE: Msg =
    Msg { name: "DownwardAPIVolumeSource", fields: &[list(1, "items", Msg(&DOWNWARD_API_VOLUME_FILE)), ptr(2, "defaultMode", Int)] };

pub static LOCAL_OBJECT_REFERENCE: Msg = Msg { name: "LocalObjectReference", fields: &[f(1, "name", Str)] };

pub static CONFIG_MAP_VOLUME_SOURCE: Msg = Msg {
    name: "ConfigMapVolumeSource",
    fields: &[inline(1, &LOCAL_OBJECT_REFERENCE), list(2, "items", Msg(&KEY_TO_PATH)), ptr(3, "defaultMode", Int), ptr(4, "optional", Bool)],
};

pub static SECRET_PROJECTION: Msg =
    Msg { name: "SecretProjection", fields: &[inline(1, &LOCAL_OBJECT_REFERENCE), list(2, "items", Msg(&KEY_TO_PATH)), ptr(4, "optional", Bool)] };

pub static DOWNWARD_API_PROJECTION: Msg = Msg { name: "DownwardAPIProjection", fields: &[list(1, "items", Msg(&DOWNWARD_API_VOLUME_FILE))] };

pub static CONFIG_MAP_PROJECTION: Msg =
    Msg { name: "ConfigMapProjection", fields: &[inline(1, &LOCAL_OBJECT_REFERENCE), list(2, "items", Msg(&KEY_TO_PATH)), ptr(4, "optional", Bool)] };

pub static SERVICE_ACCOUNT_TOKEN_PROJECTION: Msg =
    Msg { name: "ServiceAccountTokenProjection", fields: &[f(1, "audience", Str), ptr(2, "expirationSeconds", Int), ptr(3, "path", Str)] };

pub static VOLUME_PROJECTION: Msg = Msg {
    name: "VolumeProjection",
    fields: &[
        ptr(1, "secret", Msg(&SECRET_PROJECTION)),
        ptr(2, "downwardAPI", Msg(&DOWNWARD_API_PROJECTION)),
        ptr(3, "configMap", Msg(&CONFIG_MAP_PROJECTION)),
        ptr(4, "serviceAccountToken", Msg(&SERVICE_ACCOUNT_TOKEN_PROJECTION)),
        // skipped 5 clusterTrustBundle: ClusterTrustBundleProjection
        // skipped 6 podCertificate: PodCertificateProjection
    ],
};

pub static PROJECTED_VOLUME_SOURCE: Msg =
    Msg { name: "ProjectedVolumeSource", fields: &[list(1, "sources", Msg(&VOLUME_PROJECTION)), ptr(2, "defaultMode", Int)] };

pub static IMAGE_VOLUME_SOURCE: Msg = Msg { name: "ImageVolumeSource", fields: &[f(1, "reference", Str), f(2, "pullPolicy", Str)] };

pub static VOLUME_SOURCE: Msg = Msg {
    name: "VolumeSource",
    fields: &[
        ptr(1, "hostPath", Msg(&HOST_PATH_VOLUME_SOURCE)),
        ptr(2, "emptyDir", Msg(&EMPTY_DIR_VOLUME_SOURCE)),
        // skipped 3 gcePersistentDisk: GCEPersistentDiskVolumeSource
        // skipped 4 awsElasticBlockStore: AWSElasticBlockStoreVolumeSource
        // skipped 5 gitRepo: GitRepoVolumeSource
        ptr(6, "secret", Msg(&SECRET_VOLUME_SOURCE)),
        ptr(7, "nfs", Msg(&NFS_VOLUME_SOURCE)),
        // skipped 8 iscsi: ISCSIVolumeSource
        // skipped 9 glusterfs: GlusterfsVolumeSource
        ptr(10, "persistentVolumeClaim", Msg(&PERSISTENT_VOLUME_CLAIM_VOLUME_SOURCE)),
        // skipped 11 rbd: RBDVolumeSource
        // skipped 12 flexVolume: FlexVolumeSource
        // skipped 13 cinder: CinderVolumeSource
        // skipped 14 cephfs: CephFSVolumeSource
        // skipped 15 flocker: FlockerVolumeSource
        ptr(16, "downwardAPI", Msg(&DOWNWARD_API_VOLUME_SOURCE)),
        // skipped 17 fc: FCVolumeSource
        // skipped 18 azureFile: AzureFileVolumeSource
        ptr(19, "configMap", Msg(&CONFIG_MAP_VOLUME_SOURCE)),
        // skipped 20 vsphereVolume: VsphereVirtualDiskVolumeSource
        // skipped 21 quobyte: QuobyteVolumeSource
        // skipped 22 azureDisk: AzureDiskVolumeSource
        // skipped 23 photonPersistentDisk: PhotonPersistentDiskVolumeSource
        // skipped 24 portworxVolume: PortworxVolumeSource
        // skipped 25 scaleIO: ScaleIOVolumeSource
        ptr(26, "projected", Msg(&PROJECTED_VOLUME_SOURCE)),
        // skipped 27 storageos: StorageOSVolumeSource
        // skipped 28 csi: CSIVolumeSource
        // skipped 29 ephemeral: EphemeralVolumeSource
        ptr(30, "image", Msg(&IMAGE_VOLUME_SOURCE)),
    ],
};

pub static VOLUME: Msg = Msg { name: "Volume", fields: &[ptr(1, "name", Str), inline(2, &VOLUME_SOURCE)] };
