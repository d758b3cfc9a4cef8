/** @module @keystore/core/di */
export {};
