#!/bin/sh
# Profile lake, service minio-init (image minio/mc): make the bucket of the DuckLake data and
# the pipeline's own access key, allowed that bucket only. Idempotent: runs on every `up`.
# The root credentials reach mc through MC_HOST_lake (never a config file, never printed).
set -eu
: "${MINIO_ROOT_USER:?}" "${MINIO_ROOT_PASSWORD:?}" "${LAKE_ACCESS_KEY:?}" "${LAKE_SECRET_KEY:?}" "${LAKE_BUCKET:?}"
export MC_HOST_lake="http://${MINIO_ROOT_USER}:${MINIO_ROOT_PASSWORD}@minio:9000"

mc mb --ignore-existing "lake/${LAKE_BUCKET}"

policy=/tmp/trade-lake-policy.json
cat > "$policy" <<JSON
{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
     "Resource": ["arn:aws:s3:::${LAKE_BUCKET}"]},
    {"Effect": "Allow",
     "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
     "Resource": ["arn:aws:s3:::${LAKE_BUCKET}/*"]}
  ]
}
JSON
mc admin policy create lake trade-lake-rw "$policy"
# `user add` on an existing user sets its secret again: a rotated TRADE_LAKE_S3_SECRET_KEY
# takes effect on the next `up`.
mc admin user add lake "${LAKE_ACCESS_KEY}" "${LAKE_SECRET_KEY}"
if ! mc admin user info lake "${LAKE_ACCESS_KEY}" | grep -q 'trade-lake-rw'; then
  mc admin policy attach lake trade-lake-rw --user "${LAKE_ACCESS_KEY}"
fi
echo "minio-init: bucket ${LAKE_BUCKET} and access key ${LAKE_ACCESS_KEY} (policy trade-lake-rw) ready"
